// The progress line: what it shows, how it fits a terminal, and how the bar redraws in place.
#define BOOST_TEST_MODULE cli_progress_bar
#include <boost/test/unit_test.hpp>

#include <cstdio>
#include <thread>

#include "cli/progress_bar.h"

using llmrt::ProgressBar;
using llmrt::ProgressState;
using llmrt::format_progress_line;

namespace {

const ProgressState kState{120, 5000, 4.12346, 6e-4, 12345.6, 0.412, 0.1234, 185};

std::string read_all(std::FILE* file) {
  std::fflush(file);
  std::rewind(file);
  std::string text;
  for (int c; (c = std::fgetc(file)) != EOF;) text.push_back(static_cast<char>(c));
  return text;
}

}  // namespace

BOOST_AUTO_TEST_CASE(a_wide_line_holds_every_field_and_the_bar) {
  const std::string line = format_progress_line(kState, 200);
  BOOST_TEST(line == "step 120/5000 [" + std::string(30, '.') +
                         "] loss 4.1235 lr 6.0e-04 12346 tok/s MFU 41.2% 123 ms/step ETA 3:05");
  const ProgressState done{5000, 5000, 3.0, 6e-5, 1e4, 0.4, 0.1, 7384};
  const std::string last = format_progress_line(done, 200);
  BOOST_TEST(last.find("[" + std::string(30, '#') + "]") != std::string::npos);
  BOOST_TEST(last.find("ETA 2:03:04") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(the_bar_takes_the_room_the_fields_leave) {
  // 79 characters without a bar: an 80-column terminal shows every field and no bar.
  const std::string fields_only = format_progress_line(kState, 80);
  BOOST_TEST(fields_only == "step 120/5000 loss 4.1235 lr 6.0e-04 12346 tok/s MFU 41.2% 123 ms/step ETA 3:05");
  const std::string some_bar = format_progress_line(kState, 100);
  BOOST_TEST(some_bar.size() == 99u);
  BOOST_TEST(some_bar.find(" [" + std::string(17, '.') + "] ") != std::string::npos);
  // Narrower: cut at the end, never wrapped, never empty.
  BOOST_TEST(format_progress_line(kState, 40).size() == 39u);
  BOOST_TEST(format_progress_line(kState, 0).size() == 1u);
}

BOOST_AUTO_TEST_CASE(redraws_in_place_at_most_ten_times_a_second_and_ends_its_line) {
  std::FILE* file = std::tmpfile();
  BOOST_REQUIRE(file != nullptr);
  {
    ProgressBar bar(file, 120);
    ProgressState state = kState;
    state.steps = 10;
    for (state.step = 1; state.step <= 9; ++state.step) bar.step_done(state, state.step == 1);
    std::this_thread::sleep_for(std::chrono::milliseconds(120));
    state.step = 10;
    bar.step_done(state, false);  // the interval has passed
    bar.end_line();
    bar.end_line();  // a second end adds nothing
  }
  const std::string text = read_all(file);
  std::fclose(file);
  BOOST_TEST_INFO(text);
  BOOST_TEST(std::count(text.begin(), text.end(), '\r') == 2);  // step 1 (forced), step 10
  BOOST_TEST(std::count(text.begin(), text.end(), '\n') == 1);
  BOOST_TEST(text.rfind("\rstep 1/10 [", 0) == 0u);
  BOOST_TEST(text.find("\rstep 10/10 [" + std::string(30, '#') + "] loss") != std::string::npos);
  BOOST_TEST(text.back() == '\n');
}

BOOST_AUTO_TEST_CASE(a_shorter_redraw_blanks_what_the_longer_one_left) {
  std::FILE* file = std::tmpfile();
  BOOST_REQUIRE(file != nullptr);
  {
    ProgressBar bar(file, 200);
    ProgressState state = kState;
    state.tokens_per_second = 123456789;
    bar.step_done(state, true);
    state.tokens_per_second = 1;
    bar.step_done(state, true);
  }  // the destructor ends the line
  const std::string text = read_all(file);
  std::fclose(file);
  const std::size_t second = text.rfind('\r');
  const std::size_t first_length = second - 1;
  BOOST_TEST(text.size() - second - 2 == first_length);  // padded to the first line's length, then '\n'
  BOOST_TEST(text.back() == '\n');
}

// ETA: the remaining steps times a smoothed step time, so one slow step does not swing it.
BOOST_AUTO_TEST_CASE(eta_is_smoothed_over_steps) {
  std::FILE* file = std::tmpfile();
  BOOST_REQUIRE(file != nullptr);
  {
    ProgressBar bar(file, 200);
    ProgressState state{1, 101, 1, 1e-3, 1, 0.1, 1.0, 0};
    bar.step_done(state, true);    // 1 s a step: ETA 100 s
    state.step = 2;
    state.step_seconds = 11.0;     // one slow step: smoothed to 2 s, ETA 99 × 2 s
    bar.step_done(state, true);
  }
  const std::string text = read_all(file);
  std::fclose(file);
  BOOST_TEST_INFO(text);
  BOOST_TEST(text.find("ETA 1:40") != std::string::npos);
  BOOST_TEST(text.find("ETA 3:18") != std::string::npos);
}
