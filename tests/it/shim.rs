//! The universal injector's shim (src/shim.sh), run under real shells, with
//! this test playing the kubelet: it starts the two copies the way a kubelet
//! with, or without, native sidecar support would, and checks that exactly one
//! of them runs the sidecar. It watches the copies through /proc (Linux):
//! each step waits for a condition (a copy exited, exec'd its long sleep,
//! waits in its loop, claimed the sidecar), never for a fixed time.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use rstest::rstest;

const SHIM: &str = include_str!("../../src/shim.sh");
/// What the regular copy waits for the native one, in these tests: the
/// restarts that must land inside it wait on conditions, not on time.
const WAIT_SECONDS: u64 = 3;
/// The longest a copy may take to settle on a loaded machine: a deadline for
/// a condition, never a delay the tests sit out.
const SETTLE_DEADLINE: Duration = Duration::from_secs(60);
const POLL: Duration = Duration::from_millis(20);

/// The shells a sidecar image may have as /bin/sh.
fn shell(name: &str) -> Option<Vec<&'static str>> {
    let (program, prefix): (&str, Vec<&'static str>) = match name {
        "dash" => ("dash", vec![]),
        "busybox" => ("busybox", vec!["sh"]),
        _ => return None,
    };
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .output()
        .ok()?;
    if !found.status.success() {
        return None;
    }
    let program: &'static str = Box::leak(program.to_owned().into_boxed_str());
    Some(std::iter::once(program).chain(prefix).collect())
}

/// A shell this machine lacks: the case cannot run. Under CI (`CI` set, as
/// `.ci/run` and the workflows run) that fails the test, since `make setup`
/// installs both shells; elsewhere the skip is printed (`cargo test -- --nocapture`).
fn skipped(shell_name: &str) {
    assert!(
        std::env::var_os("CI").is_none(),
        "{shell_name} is not installed, and CI is set: the shim tests need it (make setup installs it)"
    );
    eprintln!("SKIPPED: {shell_name} is not installed");
}

/// One pod's emptyDir and the copies the "kubelet" started.
struct Pod {
    dir: PathBuf,
    shell: Vec<&'static str>,
    children: Vec<Child>,
}

impl Pod {
    fn new(shell: Vec<&'static str>, case: &str) -> Pod {
        let dir = std::env::temp_dir().join(format!("native-sidecar-shim-{}-{case}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        Pod {
            dir,
            shell,
            children: Vec::new(),
        }
    }

    /// Starts one copy; the "sidecar" appends a line to `ran` and keeps running.
    fn start(&mut self, role: &str) -> usize {
        let state = self.dir.join("log-shipper");
        let ran = self.dir.join("ran");
        let (program, prefix) = self.shell.split_first().expect("a shell");
        let child = Command::new(program)
            .args(prefix)
            .args(["-c", SHIM, "native-sidecar-shim", role])
            .arg(&state)
            .arg(WAIT_SECONDS.to_string())
            .args([
                "sh",
                "-c",
                "echo \"$1\" >> \"$2\"; exec sleep 300",
                "sidecar",
                role,
            ])
            .arg(&ran)
            .stdin(Stdio::null())
            .spawn()
            .expect("the shell starts");
        self.children.push(child);
        self.children.len() - 1
    }

    /// Waits until copy `index` has settled: exited (its exit code), or
    /// become a long `sleep` (it runs the test's sidecar, or idles): the
    /// shell `exec`s either. Polls, with a deadline far above any step's
    /// duration, so that a loaded machine is slower, not wrong.
    fn settle(&mut self, index: usize) -> Settled {
        let deadline = Instant::now() + SETTLE_DEADLINE;
        let child = &mut self.children[index];
        while Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                return Settled::Exited(status.code());
            }
            let cmdline = std::fs::read(format!("/proc/{}/cmdline", child.id())).unwrap_or_default();
            if cmdline.starts_with(b"sleep\0") {
                return Settled::Running;
            }
            sleep(POLL);
        }
        panic!("copy {index} neither exited nor settled within {SETTLE_DEADLINE:?}");
    }

    /// The roles of the copies that ran the sidecar, once every copy has settled.
    fn ran(&mut self) -> Vec<String> {
        for index in 0..self.children.len() {
            self.settle(index);
        }
        read(&self.dir.join("ran")).lines().map(str::to_owned).collect()
    }

    /// Starts the native copy as a kubelet first runs an init container, and
    /// waits for it to complete (exit 0), as its first run must.
    fn first_run_completes(&mut self) {
        let first_run = self.start("native");
        assert_eq!(
            self.settle(first_run),
            Settled::Exited(Some(0)),
            "the first run exits 0"
        );
    }

    /// Waits until copy `index` is in its wait loop: it found no owner and
    /// sleeps before looking again (a `sleep` child of its shell).
    fn waiting(&self, index: usize) {
        let shell = self.children[index].id().to_string();
        let deadline = Instant::now() + SETTLE_DEADLINE;
        while !children_of(&shell)
            .iter()
            .any(|cmdline| cmdline.starts_with(b"sleep\0"))
        {
            assert!(Instant::now() < deadline, "copy {index} never waited");
            sleep(POLL);
        }
    }

    /// Waits until `role` owns the sidecar (the shim's claim names it).
    fn owned_by(&self, role: &str) {
        let deadline = Instant::now() + SETTLE_DEADLINE;
        let owner = self.dir.join("log-shipper.claim/owner");
        while read(&owner).trim() != role {
            assert!(Instant::now() < deadline, "{role} never claimed the sidecar");
            sleep(POLL);
        }
    }
}

/// The command lines of the processes whose parent is `pid` (/proc/*/stat's
/// fourth field, after the parenthesised command name).
fn children_of(pid: &str) -> Vec<Vec<u8>> {
    let Ok(processes) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    processes
        .flatten()
        .filter(|entry| {
            let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
            stat.rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1))
                .is_some_and(|parent| parent == pid)
        })
        .map(|entry| std::fs::read(entry.path().join("cmdline")).unwrap_or_default())
        .collect()
}

/// How a copy of the sidecar ended up.
#[derive(Debug, PartialEq)]
enum Settled {
    Exited(Option<i32>),
    /// It runs the sidecar, or idles for good.
    Running,
}

impl Pod {
    /// What a sandbox restart does to the containers: all of them end.
    fn kill_all(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Pod {
    fn drop(&mut self) {
        self.kill_all();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// When a kubelet that supports native sidecars restarts the init copy
/// (which ran, and exited 0) while the regular copy starts at once.
#[derive(Clone, Copy, Debug)]
enum Restart {
    /// At once.
    First,
    /// After the regular copy has read the claim at least once and waits
    /// (a condition the test waits on).
    WhileTheRegularCopyWaits,
    /// After the regular copy stopped waiting and claimed the sidecar: a
    /// condition the test waits on.
    AfterTheWait,
}

#[rstest]
#[case::restart_lands_first("dash", Restart::First)]
#[case::regular_copy_reads_before_the_restart("dash", Restart::WhileTheRegularCopyWaits)]
#[case::restart_lands_after_the_wait("dash", Restart::AfterTheWait)]
#[case::busybox_restart_lands_first("busybox", Restart::First)]
#[case::busybox_regular_copy_reads_before_the_restart("busybox", Restart::WhileTheRegularCopyWaits)]
#[case::busybox_restart_lands_after_the_wait("busybox", Restart::AfterTheWait)]
fn native_supported(#[case] shell_name: &str, #[case] restart: Restart) {
    let Some(sh) = shell(shell_name) else {
        return skipped(shell_name);
    };
    let mut pod = Pod::new(sh, &format!("native-{shell_name}-{restart:?}"));
    pod.first_run_completes();

    let regular = pod.start("legacy");
    match restart {
        Restart::First => {}
        Restart::WhileTheRegularCopyWaits => pod.waiting(regular),
        Restart::AfterTheWait => pod.owned_by("legacy"),
    }
    let restarted = pod.start("native");

    let late = matches!(restart, Restart::AfterTheWait);
    // Exactly one copy runs the sidecar: the native one, unless its restart
    // came after the regular copy stopped waiting.
    assert_eq!(
        pod.ran(),
        [if late { "legacy" } else { "native" }],
        "{shell_name}"
    );
    assert_eq!(
        pod.settle(regular),
        Settled::Running,
        "the regular copy runs the sidecar or idles: exiting would only get it restarted"
    );
    if late {
        // The kubelet restarts a sidecar that exits: the late native copy
        // yields once, then idles, so the pod settles.
        assert_eq!(pod.settle(restarted), Settled::Exited(Some(0)));
        let again = pod.start("native");
        assert_eq!(pod.settle(again), Settled::Running, "idles");
        assert_eq!(pod.ran(), ["legacy"]);
    }
}

/// A kubelet without native sidecars (or an API server that dropped the
/// field): the init copy runs once as a plain init container, then the
/// regular copy starts, finds no native copy, and runs the sidecar itself.
#[rstest]
#[case::dash("dash")]
#[case::busybox("busybox")]
fn native_unsupported(#[case] shell_name: &str) {
    let Some(sh) = shell(shell_name) else {
        return skipped(shell_name);
    };
    let mut pod = Pod::new(sh, &format!("legacy-{shell_name}"));
    pod.first_run_completes();
    let regular = pod.start("legacy");
    assert_eq!(pod.ran(), ["legacy"], "{shell_name}");
    assert_eq!(
        pod.settle(regular),
        Settled::Running,
        "the regular copy is the sidecar now"
    );
}

/// A pod sandbox restart (node reboot, container runtime restart) kills every
/// container, keeps the emptyDir, and runs the init containers again. On a
/// kubelet without native sidecars the native copy must complete again, or
/// the pod stays in Init forever; with native sidecars it runs the sidecar it
/// owns at once.
#[rstest]
#[case::without_native_sidecars("dash", false)]
#[case::with_native_sidecars("dash", true)]
#[case::busybox_without_native_sidecars("busybox", false)]
fn a_sandbox_restart_runs_the_sidecar_again_in_its_owner(#[case] shell_name: &str, #[case] native: bool) {
    let Some(sh) = shell(shell_name) else {
        return skipped(shell_name);
    };
    let mut pod = Pod::new(sh, &format!("sandbox-{shell_name}-{native}"));
    pod.first_run_completes();
    pod.start("legacy");
    if native {
        pod.start("native");
    }
    let owner = if native { "native" } else { "legacy" };
    assert_eq!(pod.ran(), [owner]);

    pod.kill_all();
    let init = pod.start("native");
    if native {
        assert_eq!(pod.settle(init), Settled::Running, "runs the sidecar");
    } else {
        assert_eq!(
            pod.settle(init),
            Settled::Exited(Some(0)),
            "a plain init container that completes, so the regular containers start"
        );
    }
    pod.start("legacy");
    assert_eq!(pod.ran(), [owner, owner]);
}

/// A copy whose sidecar crashed is restarted by the kubelet: the owner runs it
/// again, the other copy does not take over.
#[rstest]
#[case::native_owner("native", "legacy")]
#[case::legacy_owner("legacy", "native")]
fn a_restarted_owner_runs_the_sidecar_again(#[case] owner: &str, #[case] other: &str) {
    let Some(sh) = shell("dash") else {
        return skipped("dash");
    };
    let mut pod = Pod::new(sh, &format!("restart-{owner}"));
    std::fs::write(pod.dir.join("log-shipper.started"), "").expect("write");
    std::fs::create_dir(pod.dir.join("log-shipper.claim")).expect("mkdir");
    std::fs::write(pod.dir.join("log-shipper.claim/owner"), format!("{owner}\n")).expect("write");
    pod.start(owner);
    pod.start(other);
    assert_eq!(pod.ran(), [owner]);
}
