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
