#include "convlab/report/html_report.h"

#include <cstdio>

#include "convlab/io/file.h"

namespace convlab::report {

std::string html_escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

namespace {

std::string fixed(double v, int digits = 3) {
  char b[32];
  std::snprintf(b, sizeof b, "%.*f", digits, v);
  return b;
}

std::string text_of(const nlohmann::json& v) {
  return v.is_string() ? v.get<std::string>() : v.dump();
}

std::string figure(const nlohmann::json& f) {
  return "<figure><img src=\"" + html_escape(f.at("file").get<std::string>()) + "\" alt=\"" +
         html_escape(f.at("caption").get<std::string>()) + "\"><figcaption>" +
         html_escape(f.at("caption").get<std::string>()) + "</figcaption></figure>\n";
}

}  // namespace

void write_html_report(const std::string& path, const nlohmann::json& c) {
  std::string h = R"(<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src 'self' file:; style-src 'unsafe-inline'">
<title>)" + html_escape(c.at("title")) +
                  R"(</title>
<style>
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
h1{font-size:1.6em}h2{font-size:1.25em;margin-top:1.6em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:right}
th{background:#f3f3f3}td.l,th.l{text-align:left}figure{display:inline-block;margin:.5em 1em .5em 0;vertical-align:top}
img{max-width:100%;border:1px solid #eee}figcaption{font-size:.9em;color:#555}.summary{font-size:1.05em;background:#f7f9fc;padding:.6em 1em}
code{background:#f3f3f3;padding:0 .2em}
</style></head><body>
<h1>)" + html_escape(c.at("title")) +
                  "</h1>\n<div class=\"summary\">\n";
  for (const auto& s : c.at("sentences")) h += "<p>" + html_escape(s) + "</p>\n";
  h += "</div>\n<h2>Recipe</h2>\n<table>\n";
  for (const auto& [k, v] : c.at("recipe").items())
    h += "<tr><th class=\"l\">" + html_escape(k) + "</th><td class=\"l\">" +
         html_escape(text_of(v)) + "</td></tr>\n";
  h += "<tr><th class=\"l\">seeds</th><td class=\"l\">" + html_escape(text_of(c.at("seeds"))) +
       "</td></tr>\n";
  h += "<tr><th class=\"l\">training data</th><td class=\"l\">" +
       html_escape(text_of(c.at("train_data"))) + "</td></tr>\n";
  h += "<tr><th class=\"l\">test data</th><td class=\"l\">" +
       html_escape(text_of(c.at("test_data"))) + "</td></tr>\n";
  h += "</table>\n<h2>Results</h2>\n<table><tr><th class=\"l\">model</th><th>test accuracy "
       "(mean)</th><th>sd</th>"
       "<th class=\"l\">per seed</th></tr>\n";
  for (const auto& m : c.at("models")) {
    std::string seeds;
    for (const auto& a : m.at("test_accuracies")) seeds += fixed(a.get<double>()) + " ";
    h += "<tr><td class=\"l\">" + html_escape(m.at("label")) + "</td><td>" +
         fixed(m.at("mean_test_accuracy")) + "</td><td>" + fixed(m.at("sd_test_accuracy")) +
         "</td><td class=\"l\">" + seeds + "</td></tr>\n";
  }
  h += "</table>\n";
  for (const auto& f : c.at("figures")) h += figure(f);
  h += "<h2>Per-class test accuracy</h2>\n<table><tr><th class=\"l\">class</th>";
  for (const auto& m : c.at("models")) h += "<th>" + html_escape(m.at("label")) + "</th>";
  h += "</tr>\n";
  const auto& first = c.at("models").at(0).at("per_class_accuracy");
  for (const auto& [cls, unused] : first.items()) {
    h += "<tr><td class=\"l\">" + html_escape(cls) + "</td>";
    for (const auto& m : c.at("models"))
      h += "<td>" + fixed(m.at("per_class_accuracy").at(cls)) + "</td>";
    h += "</tr>\n";
  }
  h += "</table>\n";
  for (const auto& t : c.at("layer_tables")) {
    h += "<h2>Layers of " + html_escape(t.at("model")) +
         "</h2>\n<table><tr><th>#</th><th class=\"l\">layer</th>"
         "<th class=\"l\">output shape</th><th>parameters</th><th "
         "class=\"l\">definition</th></tr>\n";
    for (const auto& r : t.at("rows"))
      h += "<tr><td>" + text_of(r.at("index")) + "</td><td class=\"l\">" +
           html_escape(r.at("type")) + "</td><td class=\"l\">" +
           html_escape(text_of(r.at("output_shape"))) + "</td><td>" + text_of(r.at("parameters")) +
           "</td><td class=\"l\"><code>" + html_escape(r.at("layer")) + "</code></td></tr>\n";
    h += "</table>\n";
  }
  const auto& d = c.at("decomposition");
  h += "<h2>One filter, channel by channel</h2>\n<p>" + html_escape(d.at("text")) + "</p>\n";
  for (const auto& f : d.at("figures")) h += figure(f);
  h += "<h2>Images and their channel sums</h2>\n";
  for (const auto& f : c.at("image_figures")) h += figure(f);
  h += "<p style=\"color:#777;font-size:.85em\">Written by convlab.</p>\n</body></html>\n";
  write_file_atomically(path, h);
}

}  // namespace convlab::report
