// Zero-bubble ZB-H1 (Qi et al. 2023): 1F1B's forwards and input-backwards, with each
// weight-backward moved into a slot where the rank would otherwise sit idle, holding at
// most p microbatches' activations on any rank, as 1F1B does on its first.
#include "action_emitter.h"
#include "schedule_generators.h"

#include <cstddef>
#include <deque>
#include <limits>

namespace llmrt {

namespace {

using schedule_detail::ComputePass;

constexpr long kNever = std::numeric_limits<long>::max();

enum class PassKind { kForward, kInputBackward, kWeightBackward };

struct PlacedPass {
  PassKind kind;
  int microbatch;
};

// Where the W slots go is decided by playing all ranks' 1F1B passes forward in unit time
// (F = B = W = 1, free transfers): at each tick a rank runs its next F or B when its input
// has arrived (and, for F, memory allows), else its oldest pending W, else waits. For equal
// pass times this reproduces the paper's hand placement and its bubble, (p-1)(F+B-W) per
// rank; leftover Ws run after the last B.
class UnitTimePlacement {
 public:
  explicit UnitTimePlacement(const ScheduleShape& shape) : shape_(shape) {
    const int p = shape.stages;
    for (int r = 0; r < p; ++r) passes_.push_back(schedule_detail::one_f_one_b_passes(shape, r));
    activation_ready_.assign(p, std::vector<long>(shape.microbatches, kNever));
    gradient_ready_.assign(p, std::vector<long>(shape.microbatches, kNever));
    for (long& t : activation_ready_[0]) t = 0;  // the first stage reads the data
    next_.assign(p, 0);
    holding_.assign(p, 0);
    pending_w_.resize(p);
    order_.resize(p);
  }

  // The compute order of every rank ([rank][slot]), W passes included.
  // A tick in which no rank moves means no input will ever arrive again: stop there and
  // return the partial order, which the verifier then refuses (never spin forever).
  std::vector<std::vector<PlacedPass>> run() {
    bool moved = true;
    for (long tick = 0; moved && !finished(); ++tick) {
      moved = false;
      for (int r = 0; r < shape_.stages; ++r) moved = step(r, tick) || moved;
    }
    return order_;
  }

 private:
  bool finished() const {
    for (int r = 0; r < shape_.stages; ++r) {
      if (next_[r] < passes_[r].size() || !pending_w_[r].empty()) return false;
    }
    return true;
  }

  bool input_ready(int rank, const ComputePass& pass, long tick) const {
    const auto& ready = pass.forward ? activation_ready_ : gradient_ready_;
    return ready[rank][pass.microbatch] <= tick;
  }

  // A forward may start only while the rank holds fewer than p microbatches whose W has
  // not run: W needs stored activations too, and ZB-H1 promises 1F1B's peak activation
  // memory (p microbatches, on its first rank). Without the cap W drifts to the step's end.
  bool memory_allows(int rank, const ComputePass& pass) const {
    return !pass.forward || holding_[rank] < shape_.stages;
  }

  // Runs one pass of `rank` at `tick`; false when the rank had to wait.
  bool step(int rank, long tick) {
    const int last = shape_.stages - 1;
    const bool has_next = next_[rank] < passes_[rank].size();
    if (has_next && input_ready(rank, passes_[rank][next_[rank]], tick) &&
        memory_allows(rank, passes_[rank][next_[rank]])) {
      const ComputePass pass = passes_[rank][next_[rank]++];
      order_[rank].push_back(
          {pass.forward ? PassKind::kForward : PassKind::kInputBackward, pass.microbatch});
      if (pass.forward) {
        ++holding_[rank];
        // The last stage's loss gradient is its own; others hand the activation down.
        auto& consumer = rank == last ? gradient_ready_[rank] : activation_ready_[rank + 1];
        consumer[pass.microbatch] = tick + 1;
      } else {
        if (rank > 0) gradient_ready_[rank - 1][pass.microbatch] = tick + 1;
        pending_w_[rank].push_back(pass.microbatch);
      }
      return true;
    }
    if (pending_w_[rank].empty()) return false;
    order_[rank].push_back({PassKind::kWeightBackward, pending_w_[rank].front()});
    pending_w_[rank].pop_front();
    --holding_[rank];
    return true;
  }

  ScheduleShape shape_;
  std::vector<std::vector<ComputePass>> passes_;
  std::vector<std::vector<long>> activation_ready_;  // [rank][mb]: tick the input arrives
  std::vector<std::vector<long>> gradient_ready_;    // [rank][mb]: tick the gradient arrives
  std::vector<std::size_t> next_;                    // [rank]: next F/B pass
  std::vector<int> holding_;                         // [rank]: F done, W not done
  std::vector<std::deque<int>> pending_w_;           // [rank]: microbatches awaiting W
  std::vector<std::vector<PlacedPass>> order_;
};

}  // namespace

const char* check_zb_h1_shape(const ScheduleShape& shape) {
  if (const char* reason = check_one_f_one_b_shape(shape)) return reason;
  return nullptr;
}

std::vector<llmrt_action> zb_h1_actions(const ScheduleShape& shape, int rank) {
  if (check_zb_h1_shape(shape) || !schedule_detail::is_valid_rank(shape, rank)) return {};
  const auto order = UnitTimePlacement(shape).run();
  schedule_detail::ActionEmitter emit(shape, rank);
  for (const PlacedPass& pass : order[rank]) {
    switch (pass.kind) {
      case PassKind::kForward: emit.forward(pass.microbatch, 0); break;
      case PassKind::kInputBackward: emit.backward_input(pass.microbatch, 0); break;
      case PassKind::kWeightBackward: emit.backward_weight(pass.microbatch, 0); break;
    }
  }
  return emit.take();
}

}  // namespace llmrt
