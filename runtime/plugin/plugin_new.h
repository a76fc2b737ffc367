// `llmrt plugins new NAME --kind KIND DIR`: a buildable, testable plugin project written from
// the templates in share/templates/KIND (installed as share/llmrt/templates beside the binary).
#pragma once

#include <map>
#include <ostream>
#include <string>

#include "util/status.h"

namespace llmrt {

struct NewPluginRequest {
  std::string name;  // the component name, e.g. "acme.rmsnorm"
  std::string kind;  // layer | optimizer | lr | schedule
  std::string dir;   // a folder that does not exist yet, or an empty one
};

// The folder holding one sub-folder of templates per kind: ../share/llmrt/templates beside an
// installed llmrt, else the source tree's share/templates.
std::string plugin_template_root();

// What each @KEY@ in a template's file names and text becomes for `name`: NAME (acme.rmsnorm),
// ID (acme_rmsnorm: the C identifier, target and file name), CLASS (AcmeRmsnorm), SDK_VERSION.
Result<std::map<std::string, std::string>> template_values(const std::string& name);

// Checks the request, writes the project into a temporary sibling of DIR and renames it into
// place (nothing half-written on failure), then prints what it wrote and the next commands.
Status new_plugin_project(const NewPluginRequest& request, std::ostream& out);

}  // namespace llmrt
