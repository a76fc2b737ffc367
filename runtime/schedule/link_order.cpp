#include "schedule/link_order.h"

#include <map>
#include <set>

#include <fmt/format.h>

#include "schedule/schedule_messages.h"
#include "schedule/verifier.h"

namespace llmrt {

std::vector<std::pair<int, int>> pipeline_link_pairs(int size) {
  std::vector<std::pair<int, int>> pairs;
  std::set<std::pair<int, int>> seen;
  for (int rank = 0; rank < size && size > 1; ++rank) {
    for (int peer : {(rank + 1) % size, (rank + size - 1) % size}) {
      if (seen.insert({rank, peer}).second) pairs.emplace_back(rank, peer);
    }
  }
  return pairs;
}

namespace {

// One end's view of a link: the message keys in list order, with the actions that carry them.
struct LinkEnd {
  std::vector<MessageKey> keys;
  std::vector<const llmrt_action*> actions;
};

}  // namespace

std::string link_order_mismatch(const ScheduleShape& shape, const std::vector<std::vector<llmrt_action>>& per_rank) {
  std::map<std::pair<int, int>, LinkEnd> sent, received;  // by (sender, receiver)
  for (int rank = 0; rank < static_cast<int>(per_rank.size()); ++rank) {
    for (const llmrt_action& action : per_rank[static_cast<std::size_t>(rank)]) {
      if (!is_send(action.kind) && !is_receive(action.kind)) continue;
      const MessageKey key = message_key(shape, rank, action);
      LinkEnd& end = (is_send(action.kind) ? sent : received)[{key.from, key.to}];
      end.keys.push_back(key);
      end.actions.push_back(&action);
    }
  }
  for (const auto& [link, sends] : sent) {
    const LinkEnd& receives = received[link];
    const std::size_t count = std::max(sends.keys.size(), receives.keys.size());
    for (std::size_t i = 0; i < count; ++i) {
      const bool both = i < sends.keys.size() && i < receives.keys.size();
      if (both && sends.keys[i] == receives.keys[i]) continue;
      return fmt::format("link {} → {}, message {}: rank {} sends {}, rank {} receives {}", link.first, link.second, i,
                         link.first, i < sends.keys.size() ? describe_action(*sends.actions[i]) : "nothing more",
                         link.second, i < receives.keys.size() ? describe_action(*receives.actions[i]) : "nothing more");
    }
  }
  return "";
}

}  // namespace llmrt
