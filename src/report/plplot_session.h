// One PLplot figure at a time (PLplot keeps global state), opened on a PNG file with a white page
// and black ink, and always closed.
#pragma once

#include <plplot/plplot.h>

#include <mutex>
#include <string>

namespace convlab::report {

class PlplotPage {
 public:
  PlplotPage(const std::string& file, int width_px, int height_px) : lock_(mutex()) {
    plsdev("pngcairo");
    plsfnam(file.c_str());
    plspage(0, 0, width_px, height_px, 0, 0);
    plscolbg(255, 255, 255);
    plinit();
    plscol0(1, 0, 0, 0);  // ink: black
    plcol0(1);
  }
  ~PlplotPage() { plend1(); }
  PlplotPage(const PlplotPage&) = delete;
  PlplotPage& operator=(const PlplotPage&) = delete;

 private:
  static std::mutex& mutex() {
    static std::mutex m;
    return m;
  }
  std::lock_guard<std::mutex> lock_;
};

}  // namespace convlab::report
