// The asynchronous nft runner and Enforcer::apply_async, with /bin/sh
// stand-ins for nft (no root, no nftables): start() returns before the child
// ends, poll() reaps it, the deadline kills it, nothing is left a zombie, and
// runs asked for while one is in flight collapse into one run of the latest
// table.
#include <gtest/gtest.h>

#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "dataplane/enforcement.hpp"

namespace mobiked::dataplane {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

std::vector<std::string> sh(const std::string& script) { return {"/bin/sh", "-c", script}; }

// Polls as the event loop would (every ms), for at most `max`.
template <typename Runner>
std::optional<Status> poll_to_end(Runner& r, std::chrono::milliseconds max = 5000ms) {
    const auto until = Clock::now() + max;
    while (Clock::now() < until) {
        if (auto st = r.poll()) return st;
        std::this_thread::sleep_for(1ms);
    }
    return std::nullopt;
}

bool reaped(pid_t pid) { return ::waitpid(pid, nullptr, WNOHANG) == -1 && errno == ECHILD; }

class TempDir {
public:
    TempDir() {
        char tmpl[] = "/tmp/nft-runner-test-XXXXXX";
        path_ = ::mkdtemp(tmpl);
    }
    ~TempDir() { std::filesystem::remove_all(path_); }
    std::string operator/(const std::string& name) const { return path_ + "/" + name; }
    static std::string read(const std::string& file) {
        std::ifstream in(file);
        std::stringstream s;
        s << in.rdbuf();
        return s.str();
    }

private:
    std::string path_;
};

TEST(NftRunner, SucceedsWithoutBlockingTheCaller) {
    TempDir dir;
    NftRunner r(sh("sleep 0.3; cat > " + dir / "script"));
    const auto t0 = Clock::now();
    ASSERT_TRUE(r.start("add table inet t\n"));
    EXPECT_LT(Clock::now() - t0, 200ms);  // the child sleeps 300 ms first
    EXPECT_TRUE(r.running());
    EXPECT_FALSE(r.poll().has_value());
    const pid_t pid = r.pid();
    auto st = poll_to_end(r);
    ASSERT_TRUE(st.has_value());
    EXPECT_TRUE(*st) << st->error();
    EXPECT_FALSE(r.running());
    EXPECT_TRUE(reaped(pid));
    EXPECT_EQ(TempDir::read(dir / "script"), "add table inet t\n");
    EXPECT_FALSE(r.poll().has_value());  // nothing runs: nothing to report
}

TEST(NftRunner, FailureReportsStderr) {
    NftRunner r(sh("cat >/dev/null; echo 'Error: syntax error, unexpected junk' >&2; exit 1"));
    ASSERT_TRUE(r.start("junk\n"));
    const pid_t pid = r.pid();
    auto st = poll_to_end(r);
    ASSERT_TRUE(st.has_value());
    ASSERT_FALSE(*st);
    EXPECT_EQ(st->error(), "/bin/sh failed: Error: syntax error, unexpected junk");
    EXPECT_TRUE(reaped(pid));
}

TEST(NftRunner, StderrIsBounded) {
    // 1 MiB of stderr: drained so the child never blocks on it, kept to the first 400 bytes.
    NftRunner r(sh("head -c 1048576 /dev/zero | tr '\\0' x >&2; exit 3"));
    ASSERT_TRUE(r.start(""));
    auto st = poll_to_end(r);
    ASSERT_TRUE(st.has_value());
    ASSERT_FALSE(*st);
    EXPECT_EQ(st->error(), "/bin/sh failed: " + std::string(400, 'x'));
}

TEST(NftRunner, KilledAtTheDeadline) {
    NftRunner r(sh("exec sleep 10"));
    const auto t0 = Clock::now();
    ASSERT_TRUE(r.start("", 100ms));
    const pid_t pid = r.pid();
    auto st = poll_to_end(r);
    ASSERT_TRUE(st.has_value());
    ASSERT_FALSE(*st);
    EXPECT_EQ(st->error(), "/bin/sh did not finish in 100 ms");
    EXPECT_LT(Clock::now() - t0, 2s);
    EXPECT_FALSE(r.running());
    EXPECT_TRUE(reaped(pid));  // killed and reaped: no zombie
}

TEST(NftRunner, DestructorKillsAndReaps) {
    pid_t pid = -1;
    {
        NftRunner r(sh("exec sleep 10"));
        ASSERT_TRUE(r.start(""));
        pid = r.pid();
        EXPECT_FALSE(r.poll().has_value());
    }
    EXPECT_TRUE(reaped(pid));
    EXPECT_EQ(::kill(pid, 0), -1);
}

TEST(NftRunner, WaitIsBoundedToo) {
    NftRunner r(sh("exec sleep 10"));
    ASSERT_TRUE(r.start("", 100ms));
    const pid_t pid = r.pid();
    auto st = r.wait();
    EXPECT_EQ(st.error(), "/bin/sh did not finish in 100 ms");
    EXPECT_TRUE(reaped(pid));
    EXPECT_TRUE(r.wait());  // none runs
}

TEST(NftRunner, CannotStartTwiceOrAMissingProgram) {
    NftRunner r(sh("exec sleep 10"));
    ASSERT_TRUE(r.start(""));
    EXPECT_EQ(r.start("").error(), "/bin/sh is already running");
    r.kill();
    EXPECT_FALSE(r.running());

    NftRunner missing({"/nonexistent/nft", "-f", "-"});
    auto st = missing.start("");
    ASSERT_FALSE(st);
    EXPECT_EQ(st.error().rfind("cannot run /nonexistent/nft: ", 0), 0u) << st.error();
    EXPECT_FALSE(missing.running());
}

TEST(NftRunner, LargeScriptDoesNotBlockTheCaller) {
    TempDir dir;
    std::string script;
    while (script.size() < 300 * 1024) script += "add rule inet t output ip daddr 10.0.0.1 counter drop\n";
    NftRunner r(sh("sleep 0.3; cat > " + dir / "script"));
    const auto t0 = Clock::now();
    ASSERT_TRUE(r.start(script));
    EXPECT_LT(Clock::now() - t0, 200ms);  // the pipe grew to hold it
    auto st = poll_to_end(r);
    ASSERT_TRUE(st.has_value());
    EXPECT_TRUE(*st) << st->error();
    EXPECT_EQ(TempDir::read(dir / "script"), script);
}

TEST(NftRunner, ChildNotReadingItsInputIsNoSigpipe) {
    // More than the pipe may hold, to a child that never reads: EPIPE, not SIGPIPE.
    NftRunner r({"/bin/true"});
    ASSERT_TRUE(r.start(std::string(4 << 20, '#')));
    auto st = poll_to_end(r);
    ASSERT_TRUE(st.has_value());
    ASSERT_FALSE(*st);
    EXPECT_EQ(st->error().rfind("/bin/true: could not write the script", 0), 0u) << st->error();
}

TEST(NftRunner, RunNftSynchronous) {
    EXPECT_TRUE(run_nft("x\n", 2000ms, sh("cat >/dev/null")));
    EXPECT_EQ(run_nft("x\n", 2000ms, sh("echo 'Error: no such table' >&2; exit 1")).error(),
              "/bin/sh failed: Error: no such table");
    EXPECT_EQ(run_nft("", 100ms, sh("exec sleep 10")).error(), "/bin/sh did not finish in 100 ms");
}

// --- Enforcer over a stand-in that appends each script it gets to a log ---

std::vector<EnforcedPolicy> policies(const char* label) {
    EnforcedPolicy p;
    p.local = AddressRange{*IpAddress::parse("10.1.0.0"), *IpAddress::parse("10.1.255.255")};
    p.remote = AddressRange{*IpAddress::parse("10.2.0.0"), *IpAddress::parse("10.2.255.255")};
    p.label = label;
    return {p};
}

class EnforcerAsync : public ::testing::Test {
protected:
    EnforcementConfig config{"mobiked_t", "t", 0x1234, 500, 4500};
    TempDir dir;
    // Sleeps first so that a run is reliably in flight; fails while "fail" exists.
    std::vector<std::string> stand_in(const char* sleep = "0.2") {
        return sh(std::string("sleep ") + sleep + "; if [ -e " + dir / "fail" +
                  " ]; then echo 'Error: refused' >&2; exit 1; fi; { cat; echo '=== end'; } >> " + dir / "runs");
    }
    std::string runs() const { return TempDir::read(dir / "runs"); }
    std::string ran(std::initializer_list<std::string> scripts) const {
        std::string s;
        for (const auto& x : scripts) s += x + "=== end\n";
        return s;
    }
    std::string table(const char* label) const { return render_enforcement(config, policies(label)); }
};

TEST_F(EnforcerAsync, AppliesWithoutBlockingAndInstallsOnSuccess) {
    Enforcer e(config, stand_in());
    const auto t0 = Clock::now();
    ASSERT_TRUE(e.apply_async(policies("a")));
    EXPECT_LT(Clock::now() - t0, 150ms);
    EXPECT_TRUE(e.busy());
    EXPECT_FALSE(e.installed());  // not before it succeeded
    auto st = poll_to_end(e);
    ASSERT_TRUE(st.has_value());
    EXPECT_TRUE(*st) << st->error();
    EXPECT_FALSE(e.busy());
    EXPECT_TRUE(e.installed());
    EXPECT_EQ(e.installed_text(), table("a"));
    EXPECT_GE(e.last_run_time(), 200ms);  // start to reaping, wall clock
    // unchanged: no run
    ASSERT_TRUE(e.apply_async(policies("a")));
    EXPECT_FALSE(e.busy());
    EXPECT_EQ(runs(), ran({table("a")}));
}

TEST_F(EnforcerAsync, RunsAskedForInFlightCoalesceIntoOneWithTheLatest) {
    Enforcer e(config, stand_in());
    ASSERT_TRUE(e.apply_async(policies("a")));
    ASSERT_TRUE(e.apply_async(policies("b")));
    ASSERT_TRUE(e.apply_async(policies("c")));
    auto first = poll_to_end(e);  // "a" ends, "c" starts
    ASSERT_TRUE(first.has_value());
    EXPECT_TRUE(*first) << first->error();
    EXPECT_EQ(e.installed_text(), table("a"));
    EXPECT_TRUE(e.busy());
    auto second = poll_to_end(e);
    ASSERT_TRUE(second.has_value());
    EXPECT_TRUE(*second) << second->error();
    EXPECT_FALSE(e.busy());
    EXPECT_EQ(e.installed_text(), table("c"));
    EXPECT_EQ(runs(), ran({table("a"), table("c")}));  // "b" never ran
}

TEST_F(EnforcerAsync, BackToTheTableInFlightDropsTheQueuedOne) {
    Enforcer e(config, stand_in());
    ASSERT_TRUE(e.apply_async(policies("a")));
    ASSERT_TRUE(e.apply_async(policies("b")));
    ASSERT_TRUE(e.apply_async(policies("a")));
    ASSERT_TRUE(poll_to_end(e).has_value());
    EXPECT_FALSE(e.busy());
    EXPECT_EQ(runs(), ran({table("a")}));
}

TEST_F(EnforcerAsync, FailureLeavesTheInstalledTable) {
    Enforcer e(config, stand_in("0"));
    ASSERT_TRUE(e.apply(policies("a")));
    EXPECT_EQ(e.installed_text(), table("a"));
    std::ofstream(dir / "fail").put('1');
    ASSERT_TRUE(e.apply_async(policies("b")));
    auto st = poll_to_end(e);
    ASSERT_TRUE(st.has_value());
    ASSERT_FALSE(*st);
    EXPECT_EQ(st->error(), "/bin/sh failed: Error: refused");
    EXPECT_TRUE(e.installed());
    EXPECT_EQ(e.installed_text(), table("a"));
    // the failed table is tried again when asked for again
    std::filesystem::remove(dir / "fail");
    ASSERT_TRUE(e.apply_async(policies("b")));
    EXPECT_TRUE(e.busy());
    st = poll_to_end(e);
    ASSERT_TRUE(st.has_value());
    EXPECT_TRUE(*st);
    EXPECT_EQ(e.installed_text(), table("b"));
}

TEST_F(EnforcerAsync, SynchronousApplyWaitsForTheRunInFlight) {
    Enforcer e(config, stand_in());
    ASSERT_TRUE(e.apply_async(policies("a")));
    ASSERT_TRUE(e.apply_async(policies("b")));  // queued: superseded by the synchronous one
    ASSERT_TRUE(e.apply(policies("c")));
    EXPECT_FALSE(e.busy());
    EXPECT_EQ(e.installed_text(), table("c"));
    EXPECT_EQ(runs(), ran({table("a"), table("c")}));  // in order, "b" dropped
    EXPECT_FALSE(poll_to_end(e, 300ms).has_value());
}

TEST_F(EnforcerAsync, DestructorKillsTheRunInFlightThenRemovesTheTable) {
    {
        Enforcer e(config, stand_in("0.5"));
        ASSERT_TRUE(e.apply_async(policies("a")));
        std::this_thread::sleep_for(50ms);
    }
    // the killed run never got to write; the removal did (it may have committed)
    EXPECT_EQ(runs(), ran({render_enforcement_removal(config)}));
}

}  // namespace
}  // namespace mobiked::dataplane
