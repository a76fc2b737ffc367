# Installs the plugin SDK (cmake --install BUILD --component sdk): the public headers, the
# llmrt::sdk target and the CMake package with llmrt_add_plugin. Built-in plugins install with
# --component plugins.
include(CMakePackageConfigHelpers)

if(NOT TARGET llmrt::sdk)
  add_library(llmrt::sdk ALIAS llmrt_sdk_headers)
endif()
set_target_properties(llmrt_sdk_headers PROPERTIES EXPORT_NAME sdk)
install(TARGETS llmrt_sdk_headers EXPORT llmrtTargets COMPONENT sdk)
install(DIRECTORY "${PROJECT_SOURCE_DIR}/runtime/include/llmrt" DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}"
  COMPONENT sdk FILES_MATCHING PATTERN "*.h" PATTERN "*.hpp")

set(LLMRT_PACKAGE_DIR "${CMAKE_INSTALL_LIBDIR}/cmake/llmrt")
install(EXPORT llmrtTargets NAMESPACE llmrt:: DESTINATION "${LLMRT_PACKAGE_DIR}" COMPONENT sdk)
configure_package_config_file("${PROJECT_SOURCE_DIR}/cmake/llmrtConfig.cmake.in"
  "${CMAKE_CURRENT_BINARY_DIR}/llmrtConfig.cmake"
  INSTALL_DESTINATION "${LLMRT_PACKAGE_DIR}"
  PATH_VARS CMAKE_INSTALL_INCLUDEDIR LLMRT_INSTALL_PLUGIN_DIR)
write_basic_package_version_file("${CMAKE_CURRENT_BINARY_DIR}/llmrtConfigVersion.cmake"
  VERSION "${PROJECT_VERSION}" COMPATIBILITY SameMajorVersion)
install(FILES
  "${CMAKE_CURRENT_BINARY_DIR}/llmrtConfig.cmake"
  "${CMAKE_CURRENT_BINARY_DIR}/llmrtConfigVersion.cmake"
  "${PROJECT_SOURCE_DIR}/cmake/LlmrtPluginHelpers.cmake"
  DESTINATION "${LLMRT_PACKAGE_DIR}" COMPONENT sdk)
