// Param groups and the optimizer's parameter table (exec/param_groups.h), pure: the glob, the
// peers' default of no decay on 1-D and flagged tensors, group values, the overlap and
// matches-nothing errors, and the table a ZeRO-1 piece that cuts tensors gets.
#define BOOST_TEST_MODULE exec_param_groups
#include <boost/test/unit_test.hpp>

#include "exec/param_groups.h"

using namespace llmrt;

namespace {

ParamGroupSpec group(std::vector<std::string> match, int ndim, std::optional<double> lr_scale,
                     std::optional<double> weight_decay, int index) {
  ParamGroupSpec spec{std::move(match), ndim, lr_scale, weight_decay, {}};
  spec.pos.file = "job.toml";
  spec.pos.line = 10 + index;
  spec.pos.column = 1;
  spec.pos.key_path = "train.param_group[" + std::to_string(index) + "]";
  return spec;
}

// A block's parameters as the GPT layers declare them: no_decay = 1-D or flagged.
std::vector<GroupedParam> block_params() {
  return {{"gpt.block[1].ln1_w", 1, true}, {"gpt.block[1].qkv_w", 3, false}, {"gpt.block[1].qkv_b", 2, true},
          {"gpt.block[1].fc_w", 2, false}, {"gpt.block[1].fc_b", 1, true},   {"wte", 2, false}};
}

ParamEntry entry(std::string name, std::vector<std::int64_t> shape, std::size_t offset, int layer) {
  ParamEntry e;
  e.name = std::move(name);
  e.global_shape = e.local_shape = shape;
  e.count = 1;
  for (auto extent : shape) e.count *= static_cast<std::size_t>(extent);
  e.offset = offset;
  e.layer = layer;
  return e;
}

}  // namespace

BOOST_AUTO_TEST_CASE(glob_matches_whole_names_with_star_and_question_mark) {
  BOOST_TEST(glob_match("*.ln?_w", "gpt.block[3].ln1_w"));
  BOOST_TEST(glob_match("gpt.block[3].*", "gpt.block[3].fc_b"));  // brackets are literal
  BOOST_TEST(glob_match("*", "wte"));
  BOOST_TEST(glob_match("w?e", "wte"));
  BOOST_TEST(!glob_match("*.ln?_w", "gpt.block[3].ln1_b"));
  BOOST_TEST(!glob_match("wte", "wte2"));
  BOOST_TEST(!glob_match("*_b", "gpt.block[3].qkv_w"));
  BOOST_TEST(glob_match("*a*b*c", "xxaxxbxxbxc"));
}

BOOST_AUTO_TEST_CASE(without_groups_no_decay_tensors_take_zero_decay_and_others_the_optimizers) {
  auto values = resolve_param_groups({}, block_params(), 0.1, true);
  BOOST_REQUIRE(values.ok());
  const std::vector<double> expected = {0, 0.1, 0, 0.1, 0, 0.1};
  for (std::size_t i = 0; i < expected.size(); ++i) {
    BOOST_TEST((*values)[i].weight_decay == expected[i], block_params()[i].name);
    BOOST_TEST((*values)[i].lr_scale == 1.0);
    BOOST_TEST((*values)[i].group == -1);
  }
}

BOOST_AUTO_TEST_CASE(a_group_sets_lr_scale_and_an_explicit_decay_beats_no_decay) {
  const std::vector<ParamGroupSpec> groups = {group({"*.ln?_?"}, 0, 0.5, std::nullopt, 0),
                                              group({"*_b"}, 0, std::nullopt, 0.05, 1),
                                              group({}, 3, 2.0, 0.2, 2)};
  auto values = resolve_param_groups(groups, block_params(), 0.1, true);
  BOOST_REQUIRE_MESSAGE(values.ok(), (values.ok() ? "" : values.error().message()));
  const auto& v = *values;
  BOOST_TEST(v[0].lr_scale == 0.5);  // ln1_w: its group's scale, still no decay
  BOOST_TEST(v[0].weight_decay == 0.0);
  BOOST_TEST(v[0].group == 0);
  BOOST_TEST(v[1].lr_scale == 2.0);  // qkv_w: the 3-D group
  BOOST_TEST(v[1].weight_decay == 0.2);
  BOOST_TEST(v[2].weight_decay == 0.05);  // qkv_b: a bias flagged no-decay, decayed as the group says
  BOOST_TEST(v[2].no_decay);
  BOOST_TEST(v[4].weight_decay == 0.05);
  BOOST_TEST(v[3].weight_decay == 0.1);  // fc_w: no group
  BOOST_TEST(v[3].group == -1);
}

BOOST_AUTO_TEST_CASE(overlapping_groups_are_an_error_naming_the_parameter_and_both_groups) {
  const std::vector<ParamGroupSpec> groups = {group({"*.fc_?"}, 0, 0.5, std::nullopt, 0),
                                              group({"*_b"}, 0, std::nullopt, 0.0, 1)};
  auto values = resolve_param_groups(groups, block_params(), 0.1, true);
  BOOST_REQUIRE(!values.ok());
  BOOST_TEST(values.error().exit_code() == 2);
  const std::string message = values.error().message();
  BOOST_TEST(message.find("job.toml:11:1: train.param_group[1]: parameter 'gpt.block[1].fc_b' is also in "
                          "job.toml:10:1: train.param_group[0]") != std::string::npos, message);
}

BOOST_AUTO_TEST_CASE(a_pattern_that_matches_nothing_is_named_at_check_but_not_on_one_stage) {
  const std::vector<ParamGroupSpec> groups = {group({"*.ln?_w", "*.lm_head*"}, 0, 0.5, std::nullopt, 0)};
  auto values = resolve_param_groups(groups, block_params(), 0.1, true);
  BOOST_REQUIRE(!values.ok());
  BOOST_TEST(values.error().message().find("train.param_group[0].match: pattern \"*.lm_head*\" matches no parameter "
                                           "of the model (its parameters: gpt.block[1].ln1_w,") != std::string::npos,
             values.error().message());
  // A pipeline stage holds part of the model: there a pattern may match nothing.
  BOOST_TEST(resolve_param_groups(groups, block_params(), 0.1, false).ok());
}

BOOST_AUTO_TEST_CASE(a_group_whose_ndim_excludes_what_its_patterns_match_selects_nothing) {
  const std::vector<ParamGroupSpec> groups = {group({"*.ln?_w"}, 2, 0.5, std::nullopt, 0)};
  auto values = resolve_param_groups(groups, block_params(), 0.1, true);
  BOOST_REQUIRE(!values.ok());
  BOOST_TEST(values.error().message().find("train.param_group[0]: selects no parameter: no 2-D parameter matches") !=
                 std::string::npos,
             values.error().message());
}

// A ZeRO-1 piece [5, 25) of a flat buffer holding a (4) at 0, b (3, 5) at 4 and c (8) at 20:
// the end of a, all of b, the start of c, each with where it lies in the call's buffers.
BOOST_AUTO_TEST_CASE(the_table_of_a_range_cuts_tensors_and_counts_from_the_range_start) {
  std::vector<ParamEntry> entries = {entry("c", {8}, 20, 2), entry("a", {4}, 0, 0), entry("b", {3, 5}, 4, 1)};
  entries[0].tied = true;
  std::vector<ParamGroupValues> values(3);
  values[0].lr_scale = 3;
  values[2].weight_decay = 0.1;
  values[1].no_decay = true;
  const ParamTable table(entries, values);
  const auto part = table.range(3, 22);
  BOOST_REQUIRE_EQUAL(part.size(), 3u);
  BOOST_TEST(std::string(part[0].name) == "a");
  BOOST_TEST(part[0].tensor_offset == 3);
  BOOST_TEST(part[0].count == 1);
  BOOST_TEST(part[0].buffer_offset == 0);
  BOOST_TEST(part[0].numel == 4);
  BOOST_TEST(part[0].flags == LLMRT_PARAM_NO_DECAY);
  BOOST_TEST(part[0].tie_name == nullptr);
  BOOST_TEST(std::string(part[1].name) == "b");
  BOOST_TEST(part[1].rank == 2);
  BOOST_TEST(part[1].shape[1] == 5);
  BOOST_TEST(part[1].tensor_offset == 0);
  BOOST_TEST(part[1].count == 15);
  BOOST_TEST(part[1].buffer_offset == 1);
  BOOST_TEST(part[1].weight_decay == 0.1);
  BOOST_TEST(part[1].layer_index == 1);
  BOOST_TEST(std::string(part[2].name) == "c");
  BOOST_TEST(std::string(part[2].tie_name) == "c");
  BOOST_TEST(part[2].tensor_offset == 0);
  BOOST_TEST(part[2].count == 5);
  BOOST_TEST(part[2].buffer_offset == 17);
  BOOST_TEST(part[2].lr_scale == 3.0);
  BOOST_TEST(part[2].group == -1);
  BOOST_TEST(table.range(0, 28).size() == 3u);
  BOOST_TEST(table.range(4, 15).size() == 1u);  // exactly b
}
