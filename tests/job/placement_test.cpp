// The pure parts of rank placement: the launcher's local rank from its environment, host names
// compared as people write them, the loose match of a CUDA device name against a catalog
// model, the card memory check, and the choice of a rank's GPU (all of the node's visible, or one per
// task under per-task binding) from fake device lists.
#define BOOST_TEST_MODULE job_placement
#include <boost/test/unit_test.hpp>

#include <map>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "job/placement.h"

using llmrt::EnvLookup;
using llmrt::card_model_matches;
using llmrt::local_rank_from_env;
using llmrt::same_host;

namespace {

EnvLookup env_of(const std::map<std::string, std::string>& vars) {
  return [vars](const char* name) -> const char* {
    auto found = vars.find(name);
    return found == vars.end() ? nullptr : found->second.c_str();
  };
}

}  // namespace

BOOST_AUTO_TEST_CASE(open_mpi_says_the_local_rank) {
  auto local = local_rank_from_env(env_of({{"OMPI_COMM_WORLD_LOCAL_RANK", "3"}, {"OMPI_COMM_WORLD_LOCAL_SIZE", "8"},
                                           {"SLURM_LOCALID", "5"}, {"SLURM_NTASKS_PER_NODE", "6"}}));
  BOOST_REQUIRE(local.has_value());
  BOOST_TEST(local->rank == 3);  // Open MPI first, even inside a Slurm allocation
  BOOST_TEST(local->size == 8);
  BOOST_TEST(local->source == "OMPI_COMM_WORLD_LOCAL_RANK");
}

BOOST_AUTO_TEST_CASE(slurm_says_the_local_rank) {
  auto explicit_size = local_rank_from_env(env_of({{"SLURM_LOCALID", "1"}, {"SLURM_NTASKS_PER_NODE", "4"}}));
  BOOST_REQUIRE(explicit_size.has_value());
  BOOST_TEST(explicit_size->rank == 1);
  BOOST_TEST(explicit_size->size == 4);
  auto uniform_step = local_rank_from_env(env_of({{"SLURM_LOCALID", "7"}, {"SLURM_STEP_TASKS_PER_NODE", "8(x2)"}}));
  BOOST_REQUIRE(uniform_step.has_value());
  BOOST_TEST(uniform_step->size == 8);
  auto uniform_job = local_rank_from_env(env_of({{"SLURM_LOCALID", "0"}, {"SLURM_TASKS_PER_NODE", "2"}}));
  BOOST_REQUIRE(uniform_job.has_value());
  BOOST_TEST(uniform_job->size == 2);
  BOOST_TEST(uniform_job->source == "SLURM_LOCALID");
}

BOOST_AUTO_TEST_CASE(no_or_unreadable_launcher_word_leaves_it_to_the_split) {
  BOOST_TEST(!local_rank_from_env(env_of({})).has_value());
  // Nodes with different task counts: the split of the world knows, the variable does not.
  BOOST_TEST(!local_rank_from_env(env_of({{"SLURM_LOCALID", "0"}, {"SLURM_TASKS_PER_NODE", "8,4"}})).has_value());
  BOOST_TEST(!local_rank_from_env(env_of({{"SLURM_LOCALID", "0"}})).has_value());
  BOOST_TEST(!local_rank_from_env(env_of({{"OMPI_COMM_WORLD_LOCAL_RANK", "x"}, {"OMPI_COMM_WORLD_LOCAL_SIZE", "2"}}))
                  .has_value());
  BOOST_TEST(!local_rank_from_env(env_of({{"OMPI_COMM_WORLD_LOCAL_RANK", "2"}, {"OMPI_COMM_WORLD_LOCAL_SIZE", "2"}}))
                  .has_value());
  BOOST_TEST(!local_rank_from_env(env_of({{"OMPI_COMM_WORLD_LOCAL_RANK", "0"}})).has_value());
  BOOST_TEST(!local_rank_from_env(env_of({{"OMPI_COMM_WORLD_LOCAL_RANK", "-1"}, {"OMPI_COMM_WORLD_LOCAL_SIZE", "2"}}))
                  .has_value());
}

BOOST_AUTO_TEST_CASE(short_host_names_match) {
  BOOST_TEST(same_host("dgx01", "dgx01"));
  BOOST_TEST(same_host("dgx01.cluster.example.org", "dgx01"));
  BOOST_TEST(same_host("dgx01", "DGX01.cluster.example.org"));
  BOOST_TEST(same_host("anything", "localhost"));  // "localhost" is whichever host runs it
  BOOST_TEST(!same_host("dgx02", "dgx01"));
  BOOST_TEST(!same_host("dgx011", "dgx01"));
  BOOST_TEST(!same_host("dgx0", "dgx01"));
  BOOST_TEST(!same_host("", "dgx01"));
}

BOOST_AUTO_TEST_CASE(card_models_match_loosely) {
  BOOST_TEST(card_model_matches("H100-SXM", "NVIDIA H100 80GB HBM3"));
  BOOST_TEST(card_model_matches("H100-PCIE", "NVIDIA H100 PCIe"));
  BOOST_TEST(card_model_matches("A100-80GB-SXM", "NVIDIA A100-SXM4-80GB"));
  BOOST_TEST(card_model_matches("A100-40GB-PCIE", "NVIDIA A100-PCIE-40GB"));
  BOOST_TEST(card_model_matches("V100-32GB", "Tesla V100-SXM2-32GB"));
  BOOST_TEST(card_model_matches("RTX-3090", "NVIDIA GeForce RTX 3090"));
  BOOST_TEST(card_model_matches("L40S", "NVIDIA L40S"));
  BOOST_TEST(card_model_matches("H200", "NVIDIA H200"));
  BOOST_TEST(!card_model_matches("H100-SXM", "NVIDIA H200"));
  BOOST_TEST(!card_model_matches("A100-80GB-SXM", "NVIDIA H100 80GB HBM3"));
  BOOST_TEST(!card_model_matches("RTX-3090", "NVIDIA GeForce RTX 4090"));
  BOOST_TEST(!card_model_matches("A10", "NVIDIA A100-SXM4-80GB"));  // a prefix of a longer number is another card
  BOOST_TEST(card_model_matches("A10", "NVIDIA A10"));
}

BOOST_AUTO_TEST_CASE(a_card_below_the_predicted_memory_is_refused_naming_both) {
  const llmrt::HostGpu card{0, "NVIDIA A100-SXM4-40GB", 40ull << 30, "0000:07:00.0"};
  BOOST_TEST(llmrt::check_card_memory(39.5, card, "rank 3").ok());
  const llmrt::Status refused = llmrt::check_card_memory(52.25, card, "rank 3 (node dgx01, GPU 3)");
  BOOST_REQUIRE(!refused.ok());
  BOOST_TEST(refused.error().exit_code() == 2);
  BOOST_TEST_INFO(refused.error().message());
  BOOST_TEST(refused.error().message().find("rank 3 (node dgx01, GPU 3): the plan predicts 52.2 GiB per rank, the "
                                            "card has 40.0 GiB") != std::string::npos);
}

namespace {

// A node of four H100s as the CUDA runtime would list them, PCI bus ids in order.
std::vector<llmrt::HostGpu> four_cards() {
  std::vector<llmrt::HostGpu> cards;
  for (int i = 0; i < 4; ++i) {
    cards.push_back({i, "NVIDIA H100 80GB HBM3", 80ull << 30, fmt::format("0000:{:02X}:00.0", 0x18 + 0x20 * i)});
  }
  return cards;
}

// What local rank `rank` of four sees under per-task binding, given which card each rank got.
llmrt::GpuChoice per_task(int rank, const std::vector<int>& card_of_rank) {
  const auto cards = four_cards();
  llmrt::GpuChoice choice;
  llmrt::HostGpu mine = cards[static_cast<std::size_t>(card_of_rank[static_cast<std::size_t>(rank)])];
  mine.ordinal = 0;  // the one device a bound process sees is its CUDA ordinal 0
  choice.visible = {mine};
  choice.local = {rank, 4, "SLURM_LOCALID"};
  choice.slot = rank;
  choice.node_gpus = 4;
  for (int card : card_of_rank) choice.local_single_gpus.push_back(cards[static_cast<std::size_t>(card)].pci_bus_id);
  choice.host = "gpu07";
  choice.expects = "node gpu07 expects 4 × H100-SXM";
  return choice;
}

std::string refusal(const llmrt::Result<int>& chosen) {
  BOOST_REQUIRE(!chosen.ok());
  BOOST_TEST(chosen.error().exit_code() == 2);
  return chosen.error().message();
}

}  // namespace

BOOST_AUTO_TEST_CASE(every_gpu_visible_binds_the_slot) {
  llmrt::GpuChoice choice;
  choice.visible = four_cards();
  choice.local = {1, 4, "OMPI_COMM_WORLD_LOCAL_RANK"};
  choice.slot = 3;  // the topology's index wins over the local rank
  choice.node_gpus = 4;
  auto chosen = llmrt::choose_gpu(choice);
  BOOST_REQUIRE(chosen.ok());
  BOOST_TEST(*chosen == 3);
}

BOOST_AUTO_TEST_CASE(per_task_binding_binds_the_one_gpu_a_rank_sees) {
  for (int rank = 0; rank < 4; ++rank) {
    auto chosen = llmrt::choose_gpu(per_task(rank, {0, 1, 2, 3}));
    BOOST_TEST_INFO((chosen.ok() ? std::string() : chosen.error().message()));
    BOOST_REQUIRE(chosen.ok());
    BOOST_TEST(*chosen == 0);
  }
}

BOOST_AUTO_TEST_CASE(per_task_binding_out_of_pci_order_names_the_card_and_the_fix) {
  // Ranks 1 and 2 got each other's card: slot 1 would run on the node's GPU 2.
  const std::string message = refusal(llmrt::choose_gpu(per_task(1, {0, 2, 1, 3})));
  BOOST_TEST_INFO(message);
  BOOST_TEST(message.find("local rank 1 is the topology's GPU 1 but was bound to PCI 0000:58:00.0, GPU 2 in PCI bus "
                          "order") != std::string::npos);
  BOOST_TEST(message.find("--gpu-bind=map_gpu") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(per_task_binding_of_one_card_to_two_ranks_is_refused) {
  const std::string message = refusal(llmrt::choose_gpu(per_task(2, {0, 1, 1, 3})));
  BOOST_TEST_INFO(message);
  BOOST_TEST(message.find("local ranks 1 and 2 both see only GPU 0000:38:00.0") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(a_host_with_one_gpu_for_several_ranks_is_refused_as_too_few) {
  // Every local rank sees the same single card: not per-task binding, too few GPUs.
  const std::string message = refusal(llmrt::choose_gpu(per_task(2, {0, 0, 0, 0})));
  BOOST_TEST_INFO(message);
  BOOST_TEST(message.find("this host (gpu07) has 1 × NVIDIA H100 80GB HBM3 for its 4 local ranks") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(some_but_not_all_gpus_visible_is_refused_as_before) {
  llmrt::GpuChoice choice = per_task(0, {0, 1, 2, 3});
  choice.visible = {four_cards()[0], four_cards()[1]};  // two of four, for four local ranks
  choice.local_single_gpus.assign(4, "");
  const std::string message = refusal(llmrt::choose_gpu(choice));
  BOOST_TEST_INFO(message);
  BOOST_TEST(message.find("this host (gpu07) has 2 × NVIDIA H100 80GB HBM3 for its 4 local ranks") != std::string::npos);
  // --share-gpus (tests on one card): round-robin instead.
  choice.share = true;
  choice.local.rank = 3;
  auto shared = llmrt::choose_gpu(choice);
  BOOST_REQUIRE(shared.ok());
  BOOST_TEST(*shared == 1);
}
