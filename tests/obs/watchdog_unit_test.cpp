// The watchdog's pure parts: fault-injection parsing, the state wire format, the table.
#define BOOST_TEST_MODULE obs_watchdog_unit
#include <boost/test/unit_test.hpp>

#include "obs/fault_injection.h"
#include "obs/hang_report.h"

using namespace llmrt::obs;

BOOST_AUTO_TEST_CASE(parses_stall_and_exit) {
  auto stall = parse_fault_injection("1:2:stall");
  BOOST_REQUIRE(stall.ok());
  BOOST_TEST(stall->rank == 1);
  BOOST_TEST(stall->step == 2);
  BOOST_TEST((stall->mode == FaultInjection::Mode::kStall));
  auto exit = parse_fault_injection("12:345:exit");
  BOOST_REQUIRE(exit.ok());
  BOOST_TEST(exit->rank == 12);
  BOOST_TEST(exit->step == 345);
  BOOST_TEST((exit->mode == FaultInjection::Mode::kExit));
}

BOOST_AUTO_TEST_CASE(rejects_bad_fault_strings_with_the_format) {
  for (const char* bad : {"", "1", "1:2", "1:2:", "x:2:stall", "1:y:stall", "-1:2:stall", "1:-2:exit", "1:2:hang",
                          "1:2:stall:extra", "1 :2:stall", "1:2:STALL", "1.5:2:exit"}) {
    auto parsed = parse_fault_injection(bad);
    BOOST_TEST_CONTEXT("input \"" << bad << "\"") {
      BOOST_REQUIRE(!parsed.ok());
      BOOST_TEST((parsed.error().kind() == llmrt::ErrorKind::kInput));
      BOOST_TEST(parsed.error().message().find("RANK:STEP:stall|exit") != std::string::npos);
    }
  }
}

BOOST_AUTO_TEST_CASE(not_the_chosen_rank_or_step_does_nothing) {
  const FaultInjection fault{1, 2, FaultInjection::Mode::kExit};
  maybe_inject_fault(fault, 0, 2);
  maybe_inject_fault(fault, 1, 3);
  BOOST_TEST(true);  // still alive
}

RankState sample_state() {
  RankState state;
  state.rank = 2;
  state.coords = "pp 2 · tp 0 · dp 0";
  state.phase = RankState::Phase::kTimedOut;
  state.action = "RECV_ACTIVATION mb 3 chunk 0 from rank 1";
  state.waits_for = 1;
  state.seconds = 2.25;
  state.last_finished = "SEND_ACTIVATION mb 3 to rank 0";
  return state;
}

BOOST_AUTO_TEST_CASE(state_round_trips_through_the_wire_format) {
  const RankState state = sample_state();
  const auto decoded = decode_state(encode_state(state));
  BOOST_REQUIRE(decoded.has_value());
  BOOST_TEST(decoded->rank == state.rank);
  BOOST_TEST(decoded->coords == state.coords);
  BOOST_TEST((decoded->phase == state.phase));
  BOOST_TEST(decoded->action == state.action);
  BOOST_TEST(decoded->waits_for == state.waits_for);
  BOOST_TEST(decoded->seconds == state.seconds);
  BOOST_TEST(decoded->last_finished == state.last_finished);
  BOOST_TEST(!decode_state("garbage").has_value());
  BOOST_TEST(!decode_state("1\x1fx\x1f" "9\x1f\x1f-1\x1f" "0\x1f").has_value());  // phase out of range
}

BOOST_AUTO_TEST_CASE(table_has_one_row_per_rank_and_names_the_suspect) {
  const std::vector<std::string> coords = {"pp 0 · tp 0 · dp 0", "pp 1 · tp 0 · dp 0", "pp 2 · tp 0 · dp 0"};
  RankState zero = sample_state();
  zero.rank = 0;
  zero.coords = coords[0];
  zero.phase = RankState::Phase::kWaiting;
  zero.action = "RECV_ACTIVATION mb 3 chunk 0 from rank 2";
  zero.waits_for = 2;
  RankState one;  // never answered
  one.rank = 1;
  one.coords = coords[1];
  const std::string table = format_hang_table({zero, one, sample_state()}, coords);
  BOOST_TEST_MESSAGE(table);
  BOOST_TEST(table.find("no answer (exited or stalled outside llmrt)") != std::string::npos);
  BOOST_TEST(table.find("rank 2 (pp 2 · tp 0 · dp 0)") != std::string::npos);
  BOOST_TEST(table.find("waited on but waiting for nobody: rank 1 (pp 1 · tp 0 · dp 0)") != std::string::npos);
  // Columns line up although "·" takes two bytes: every row's "waits for" starts at one column.
  std::vector<std::size_t> starts;
  std::istringstream lines(table);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("  waited on", 0) == 0) continue;
    const std::size_t cut = line.rfind("  ") + 2;
    starts.push_back(display_width(line.substr(0, cut)));
  }
  BOOST_TEST(starts.size() == 4u);
  for (std::size_t start : starts) BOOST_TEST(start == starts.front());
}

BOOST_AUTO_TEST_CASE(display_width_counts_code_points) {
  BOOST_TEST(display_width("pp 1 · tp 0") == 11u);
  BOOST_TEST(display_width("") == 0u);
}
