// The files `llmrt sweep --measure` leaves in run_dir: sweep.csv, sweep.json, sweep.svg (a bar
// chart of predicted beside measured tokens/s per layout) and, with --calibrate,
// calibration.toml — [plan] constants fitted so that predictions match these measurements.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/plan_report.h"
#include "cli/sweep_measure.h"

namespace llmrt {
namespace {

double error_of(const SweepMeasurement& row) { return row.predicted.tokens_per_s / row.measured_tokens_per_s - 1; }

std::string sweep_csv(const std::vector<SweepMeasurement>& rows) {
  std::string csv = "layout,schedule,microbatch_size,microbatches,stage_layers,predicted_step_s,measured_step_s,"
                    "predicted_tokens_per_s,measured_tokens_per_s,prediction_error\n";
  for (const SweepMeasurement& row : rows) {
    const Layout& layout = row.predicted.layout;
    csv += fmt::format("{},{},{},{},\"{}\",{:.6f},{:.6f},{:.1f},{:.1f},{:.4f}\n", layout_label(layout), layout.schedule,
                       layout.microbatch_size, layout.microbatches, stage_layers_label(layout.stage_layers),
                       row.predicted.step_time_s, row.measured_step_s, row.predicted.tokens_per_s,
                       row.measured_tokens_per_s, error_of(row));
  }
  return csv;
}

nlohmann::json sweep_json(const std::vector<SweepMeasurement>& rows, const Topology& topology) {
  PlanResult predicted;
  for (const SweepMeasurement& row : rows) predicted.ranked.push_back(row.predicted);
  nlohmann::json out = plan_result_json(predicted, topology);
  for (std::size_t i = 0; i < rows.size(); ++i) {
    out["ranked"][i]["measured"] = {{"step_time_s", rows[i].measured_step_s},
                                    {"tokens_per_s", rows[i].measured_tokens_per_s},
                                    {"prediction_error", error_of(rows[i])}};
  }
  return out;
}

// Two bars per layout (predicted, measured), the error printed above each pair.
std::string sweep_svg(const std::vector<SweepMeasurement>& rows) {
  double top = 1;
  for (const SweepMeasurement& row : rows) top = std::max({top, row.predicted.tokens_per_s, row.measured_tokens_per_s});
  const int group = 120, height = 300, base = 340, left = 60;
  const int width = std::max(560, left + group * static_cast<int>(rows.size()) + 40);
  std::string svg = fmt::format("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"420\" "
                                "font-family=\"sans-serif\" font-size=\"11\">\n"
                                "<text x=\"{}\" y=\"20\" font-size=\"14\">tokens/s: predicted (grey) and measured "
                                "(blue) per layout</text>\n<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" "
                                "stroke=\"black\"/>\n<text x=\"4\" y=\"{}\">{:.0f}</text>\n"
                                "<text x=\"4\" y=\"{}\">0</text>\n",
                                width, left, left, base, width - 20, base, base - height + 4, top, base);
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const int x = left + group * static_cast<int>(i) + 10;
    const double predicted = height * rows[i].predicted.tokens_per_s / top;
    const double measured = height * rows[i].measured_tokens_per_s / top;
    svg += fmt::format("<rect x=\"{}\" y=\"{:.1f}\" width=\"40\" height=\"{:.1f}\" fill=\"#999\"/>\n", x,
                       base - predicted, predicted);
    svg += fmt::format("<rect x=\"{}\" y=\"{:.1f}\" width=\"40\" height=\"{:.1f}\" fill=\"#3a6fd8\"/>\n", x + 44,
                       base - measured, measured);
    svg += fmt::format("<text x=\"{}\" y=\"{:.1f}\">{:+.1f} %</text>\n", x + 10,
                       base - std::max(predicted, measured) - 6, 100 * error_of(rows[i]));
    const Layout& layout = rows[i].predicted.layout;
    svg += fmt::format("<text x=\"{}\" y=\"{}\">{}</text>\n<text x=\"{}\" y=\"{}\">{}</text>\n"
                       "<text x=\"{}\" y=\"{}\">{} × {} microbatches</text>\n",
                       x, base + 16, layout_label(layout), x, base + 30, layout.schedule, x, base + 44,
                       layout.microbatch_size, layout.microbatches);
  }
  return svg + "</svg>\n";
}

// Compute time scales with 1 / compute_efficiency: the geometric mean of the step-time ratios
// moves the constant so that the predictions' errors average out.
std::string calibration_toml(const std::vector<SweepMeasurement>& rows, const PlanSpec& plan) {
  double log_ratio = 0;
  for (const SweepMeasurement& row : rows) log_ratio += std::log(row.predicted.step_time_s / row.measured_step_s);
  const double efficiency = std::min(1.0, plan.compute_efficiency * std::exp(log_ratio / double(rows.size())));
  return fmt::format("# Written by `llmrt sweep --measure --calibrate` from {} measured layouts; include it:\n"
                     "#   include = [\"calibration.toml\"]\n[plan]\ncompute_efficiency = {:.4f}\n",
                     rows.size(), efficiency);
}

Status write_text(const std::string& path, const std::string& text) {
  std::ofstream file(path + ".tmp");
  file << text;
  file.close();
  if (!file) return runtime_error("{}: cannot write", path);
  std::error_code error;
  std::filesystem::rename(path + ".tmp", path, error);
  if (error) return runtime_error("{}: cannot rename into place: {}", path, error.message());
  return Status::success();
}

}  // namespace

Status write_sweep_outputs(const std::string& run_dir, const std::vector<SweepMeasurement>& rows,
                           const Topology& topology, const PlanSpec& plan, bool calibrate) {
  std::error_code error;
  std::filesystem::create_directories(run_dir, error);
  if (error) return runtime_error("{}: cannot create the run folder: {}", run_dir, error.message());
  LLMRT_RETURN_IF_ERROR(write_text(run_dir + "/sweep.csv", sweep_csv(rows)));
  LLMRT_RETURN_IF_ERROR(write_text(run_dir + "/sweep.json", sweep_json(rows, topology).dump(1) + "\n"));
  LLMRT_RETURN_IF_ERROR(write_text(run_dir + "/sweep.svg", sweep_svg(rows)));
  if (calibrate) LLMRT_RETURN_IF_ERROR(write_text(run_dir + "/calibration.toml", calibration_toml(rows, plan)));
  fmt::print("wrote {0}/sweep.csv, {0}/sweep.json, {0}/sweep.svg{1}\n", run_dir,
             calibrate ? fmt::format(" and {}/calibration.toml", run_dir) : std::string());
  return Status::success();
}

}  // namespace llmrt
