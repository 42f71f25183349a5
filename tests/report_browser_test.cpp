// Opens compare's report.html in headless Chromium through the DevTools protocol (over a pipe, no
// network): every image must have loaded, no request may leave the machine, and a screenshot is
// saved. Skipped, saying why, only when Chromium is not installed.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

const char* kChromium = "/usr/bin/chromium";

// A Chromium child speaking the DevTools protocol on fds 3 (commands in) and 4 (replies out).
class Browser {
 public:
  explicit Browser(const std::string& profile) {
    int to_child[2], from_child[2];
    if (pipe(to_child) != 0 || pipe(from_child) != 0) throw std::runtime_error("pipe");
    pid_ = fork();
    if (pid_ == 0) {
      dup2(to_child[0], 3);
      dup2(from_child[1], 4);
      const int devnull = open("/dev/null", O_WRONLY);
      dup2(devnull, 1);
      dup2(devnull, 2);
      for (int fd = 5; fd < 256; ++fd) close(fd);
      const std::string user_dir = "--user-data-dir=" + profile;
      execl(kChromium, kChromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
            "--no-first-run", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--window-size=1200,1600", "--remote-debugging-pipe",
            user_dir.c_str(), "about:blank", static_cast<char*>(nullptr));
      _exit(127);
    }
    close(to_child[0]);
    close(from_child[1]);
    out_ = to_child[1];
    in_ = from_child[0];
  }
  ~Browser() {
    close(out_);
    close(in_);
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }

  // Sends a command and returns its result; events that arrive meanwhile go to `events`.
  json call(const std::string& method, const json& params = json::object(),
            const std::string& session = "") {
    json msg = {{"id", ++id_}, {"method", method}, {"params", params}};
    if (!session.empty()) msg["sessionId"] = session;
    const std::string text = msg.dump() + '\0';
    if (write(out_, text.data(), text.size()) != static_cast<ssize_t>(text.size()))
      throw std::runtime_error("cannot write to Chromium");
    for (;;) {
      json reply = read_message();
      if (reply.contains("id") && reply["id"] == id_) {
        if (reply.contains("error"))
          throw std::runtime_error(method + ": " + reply["error"].dump());
        return reply["result"];
      }
      events.push_back(reply);
    }
  }

  // Reads messages until an event with this method arrives (or the deadline passes).
  void wait_for(const std::string& method) {
    for (const auto& e : events)
      if (e.value("method", "") == method) return;
    for (;;) {
      json m = read_message();
      events.push_back(m);
      if (m.value("method", "") == method) return;
    }
  }

  std::vector<json> events;

 private:
  json read_message() {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    for (;;) {
      if (const size_t nul = buffer_.find('\0'); nul != std::string::npos) {
        std::string one = buffer_.substr(0, nul);
        buffer_.erase(0, nul + 1);
        return json::parse(one);
      }
      pollfd p{in_, POLLIN, 0};
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0 || poll(&p, 1, static_cast<int>(left.count())) <= 0)
        throw std::runtime_error("Chromium did not answer within 60 s");
      char chunk[65536];
      const ssize_t n = read(in_, chunk, sizeof chunk);
      if (n <= 0) throw std::runtime_error("Chromium closed the DevTools pipe");
      buffer_.append(chunk, static_cast<size_t>(n));
    }
  }

  pid_t pid_ = -1;
  int out_ = -1, in_ = -1;
  int id_ = 0;
  std::string buffer_;
};

std::string base64_decode(const std::string& in) {
  static const std::string chars =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  int val = 0, bits = -8;
  for (char c : in) {
    const size_t v = chars.find(c);
    if (v == std::string::npos) break;
    val = (val << 6) + static_cast<int>(v);
    bits += 6;
    if (bits >= 0) {
      out.push_back(static_cast<char>((val >> bits) & 0xFF));
      bits -= 8;
    }
  }
  return out;
}

}  // namespace

TEST(ReportBrowser, LoadsOfflineWithEveryImage) {
  if (!fs::exists(kChromium))
    GTEST_SKIP() << "Chromium is not installed (apt-get install chromium): the report browser test "
                    "cannot run";
  const fs::path dir = fs::temp_directory_path() / ("convlab_report_" + std::to_string(getpid()));
  fs::remove_all(dir);
  // A short comparison on the shipped data makes a real report.
  const std::string cmd =
      std::string(CONVLAB_CLI) + " compare --epochs 1 --out " + dir.string() + " > /dev/null 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  ASSERT_TRUE(fs::exists(dir / "report.html"));

  Browser b((dir / "profile").string());
  const std::string target = b.call("Target.createTarget", {{"url", "about:blank"}})["targetId"];
  const std::string session =
      b.call("Target.attachToTarget", {{"targetId", target}, {"flatten", true}})["sessionId"];
  b.call("Network.enable", json::object(), session);
  b.call("Page.enable", json::object(), session);
  const std::string url = "file://" + (dir / "report.html").string();
  b.call("Page.navigate", {{"url", url}}, session);
  b.wait_for("Page.loadEventFired");

  // Every request the page made stayed on this machine.
  int requests = 0;
  for (const auto& e : b.events)
    if (e.value("method", "") == "Network.requestWillBeSent" &&
        e.value("sessionId", "") == session) {
      const std::string u = e["params"]["request"]["url"];
      EXPECT_TRUE(u.rfind("file://", 0) == 0 || u.rfind("data:", 0) == 0)
          << "request left the machine: " << u;
      ++requests;
    }
  EXPECT_GE(requests, 2);

  // Every image element decoded to a picture.
  const json images =
      b.call("Runtime.evaluate",
             {{"expression",
               "JSON.stringify(Array.from(document.images).map(i => [i.getAttribute('src'), "
               "i.complete && i.naturalWidth > 0]))"},
              {"returnByValue", true}},
             session);
  const json list = json::parse(images["result"]["value"].get<std::string>());
  EXPECT_GE(list.size(), 8u);  // loss, accuracy, 4 decomposition maps, samples, summed
  for (const auto& img : list) EXPECT_TRUE(img[1].get<bool>()) << "image did not load: " << img[0];
  const json title = b.call("Runtime.evaluate",
                            {{"expression", "document.title"}, {"returnByValue", true}}, session);
  EXPECT_NE(title["result"]["value"].get<std::string>().find("sum-first"), std::string::npos);

  const json shot = b.call("Page.captureScreenshot",
                           {{"format", "png"}, {"captureBeyondViewport", true}}, session);
  const std::string png = base64_decode(shot["data"]);
  ASSERT_GT(png.size(), 10000u);
  std::ofstream(dir / "report_screenshot.png", std::ios::binary) << png;
  std::printf("screenshot: %s (%zu bytes)\n", (dir / "report_screenshot.png").c_str(), png.size());
  b.call("Browser.close");
}
