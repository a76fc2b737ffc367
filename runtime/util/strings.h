// Small string helpers shared across the runtime: edit distance for "did you mean", joining.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace llmrt {

// Levenshtein distance between a and b.
std::size_t edit_distance(std::string_view a, std::string_view b);

// The candidate closest to `word` when it is close enough to be a likely typo, else "".
std::string closest_match(std::string_view word, const std::vector<std::string>& candidates);

std::string join(const std::vector<std::string>& items, std::string_view separator);

}  // namespace llmrt
