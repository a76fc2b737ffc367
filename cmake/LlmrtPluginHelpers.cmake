# llmrt_add_plugin(NAME SOURCES ... [LIBS ...] [OUTPUT_DIRECTORY dir] [INSTALL_DESTINATION dir] [BUILD_ID id])
# Builds an llmrt plugin: a MODULE library against the SDK headers (target llmrt::sdk) that
# exports only its entry symbol and resolves every symbol at link time. Used the same way by
# llmrt's built-in plugins and, after find_package(llmrt), by third parties.
function(llmrt_add_plugin name)
  cmake_parse_arguments(ARG "" "OUTPUT_DIRECTORY;INSTALL_DESTINATION;BUILD_ID" "SOURCES;LIBS" ${ARGN})
  if(NOT ARG_SOURCES)
    message(FATAL_ERROR "llmrt_add_plugin(${name}): SOURCES is required")
  endif()
  # In llmrt's own tree the SDK target is llmrt_sdk_headers; an installed SDK exports llmrt::sdk.
  if(NOT TARGET llmrt::sdk AND TARGET llmrt_sdk_headers)
    add_library(llmrt::sdk ALIAS llmrt_sdk_headers)
  endif()
  add_library(${name} MODULE ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE llmrt::sdk ${ARG_LIBS})
  target_compile_features(${name} PRIVATE cxx_std_20)
  # The file is the plugin's name (no "lib"), and nothing but the entry symbol is visible:
  # plugins loaded with RTLD_LOCAL must not clash or interpose on each other.
  set(export_map "${CMAKE_BINARY_DIR}/llmrt_plugin_exports.map")
  if(NOT EXISTS "${export_map}")
    file(WRITE "${export_map}" "{\n  global: llmrt_plugin_entry_v*;\n  local: *;\n};\n")
  endif()
  set_target_properties(${name} PROPERTIES
    PREFIX ""
    C_VISIBILITY_PRESET hidden
    CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON
    POSITION_INDEPENDENT_CODE ON
    LINK_DEPENDS "${export_map}")
  target_link_options(${name} PRIVATE
    "LINKER:--no-undefined" "LINKER:--exclude-libs,ALL" "LINKER:--version-script=${export_map}")
  if(ARG_OUTPUT_DIRECTORY)
    set_target_properties(${name} PROPERTIES LIBRARY_OUTPUT_DIRECTORY "${ARG_OUTPUT_DIRECTORY}")
  endif()
  if(ARG_BUILD_ID)
    target_compile_definitions(${name} PRIVATE "LLMRT_PLUGIN_BUILD_ID=\"${ARG_BUILD_ID}\"")
  endif()
  if(ARG_INSTALL_DESTINATION)
    install(TARGETS ${name} LIBRARY DESTINATION "${ARG_INSTALL_DESTINATION}" COMPONENT plugins)
  endif()
endfunction()

# llmrt_add_plugin_test(NAME PLUGIN COMPONENT name [SET key=value ...] [SHAPE B,T] [TP n] [ARGS ...])
# A ctest entry NAME that runs `llmrt plugins test COMPONENT --plugin <PLUGIN>` (docs/plugins.md,
# "Testing a plugin"): the gradient check and contract checks of a layer, or an optimizer's;
# it fails when any check fails. PLUGIN is a target made by llmrt_add_plugin or a file path.
# TP > 1 runs it under `mpirun [MPIEXEC_PREFLAGS] -np TP` (MPIEXEC_EXECUTABLE when set, else mpirun
# on PATH).
# The llmrt executable: LLMRT_EXECUTABLE when set; else llmrt's own target in llmrt's tree;
# else the llmrt installed beside this SDK (<prefix>/bin/llmrt); else llmrt on PATH.
set(_LLMRT_HELPERS_DIR "${CMAKE_CURRENT_LIST_DIR}")
function(llmrt_add_plugin_test name plugin)
  cmake_parse_arguments(ARG "" "COMPONENT;SHAPE;TP" "SET;ARGS" ${ARGN})
  if(NOT ARG_COMPONENT)
    message(FATAL_ERROR "llmrt_add_plugin_test(${name}): COMPONENT is required (the registered name, e.g. acme.norm)")
  endif()
  if(LLMRT_EXECUTABLE)
    set(llmrt "${LLMRT_EXECUTABLE}")
  elseif(TARGET llmrt)
    set(llmrt "$<TARGET_FILE:llmrt>")
  else()
    # <prefix>/lib/cmake/llmrt/LlmrtPluginHelpers.cmake: the prefix is three folders up.
    get_filename_component(prefix "${_LLMRT_HELPERS_DIR}/../../.." ABSOLUTE)
    find_program(LLMRT_EXECUTABLE llmrt HINTS "${prefix}/bin" DOC "the llmrt executable that runs plugin tests")
    if(NOT LLMRT_EXECUTABLE)
      message(FATAL_ERROR "llmrt_add_plugin_test(${name}): no llmrt executable in ${prefix}/bin or on PATH; set "
                          "LLMRT_EXECUTABLE to one")
    endif()
    set(llmrt "${LLMRT_EXECUTABLE}")
  endif()
  if(TARGET ${plugin})
    set(file "$<TARGET_FILE:${plugin}>")
  else()
    get_filename_component(file "${plugin}" ABSOLUTE BASE_DIR "${CMAKE_CURRENT_BINARY_DIR}")
  endif()
  set(command "${llmrt}" plugins test "${ARG_COMPONENT}" --plugin "${file}")
  foreach(set IN LISTS ARG_SET)
    list(APPEND command --set "${set}")
  endforeach()
  if(ARG_SHAPE)
    list(APPEND command --shape "${ARG_SHAPE}")
  endif()
  if(ARG_TP AND ARG_TP GREATER 1)
    set(mpiexec "${MPIEXEC_EXECUTABLE}")
    if(NOT mpiexec)
      set(mpiexec mpirun)
    endif()
    set(command "${mpiexec}" ${MPIEXEC_PREFLAGS} -np ${ARG_TP} ${command} --tp ${ARG_TP})
  endif()
  add_test(NAME ${name} COMMAND ${command} ${ARG_ARGS})
endfunction()
