// The experiment report: one HTML file that opens offline from the file system (inline CSS, no
// scripts, no network), its pictures beside it. It reads a description of the results; it never
// trains or computes them.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace convlab::report {

// `content` holds: title, sentences[], recipe{}, train_data{}, test_data{}, seeds, models[] (label,
// mean_test_accuracy, sd_test_accuracy, test_accuracies[], per_class_accuracy{}), figures[] (file,
// caption), layer_tables[] (model, rows[] of index, type, output_shape, parameters, layer) and
// decomposition{} (text, figures[]). Written atomically.
void write_html_report(const std::string& path, const nlohmann::json& content);

// Text made safe for HTML.
std::string html_escape(const std::string& text);

}  // namespace convlab::report
