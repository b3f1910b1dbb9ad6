//! The universal injector's shim (src/shim.sh), run under real shells, with
//! this test playing the kubelet: it starts the two copies the way a kubelet
//! with, or without, native sidecar support would, and checks that exactly one
//! of them runs the sidecar.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use rstest::rstest;

const SHIM: &str = include_str!("../../src/shim.sh");
/// What the regular copy waits for the native one, in these tests.
const WAIT_SECONDS: u64 = 2;

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

    /// Waits for copy `index` to exit, returning its exit code.
    fn exit_code(&mut self, index: usize, within: Duration) -> Option<i32> {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.children[index].try_wait() {
                return status.code();
            }
            sleep(Duration::from_millis(20));
        }
        None
    }

    /// The roles of the copies that ran the sidecar, once `settle` has passed.
    fn ran(&self, settle: Duration) -> Vec<String> {
        sleep(settle);
        read(&self.dir.join("ran")).lines().map(str::to_owned).collect()
    }
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

/// A kubelet that supports native sidecars: the init copy runs, exits 0, and
/// is restarted `restart_after` later, while the regular copy starts at once.
#[rstest]
#[case::restart_lands_first("dash", 0)]
#[case::regular_copy_reads_before_the_restart("dash", 1200)]
#[case::restart_lands_after_the_wait("dash", 3500)]
#[case::busybox_restart_lands_first("busybox", 0)]
#[case::busybox_regular_copy_reads_before_the_restart("busybox", 1200)]
#[case::busybox_restart_lands_after_the_wait("busybox", 3500)]
fn native_supported(#[case] shell_name: &str, #[case] restart_after_ms: u64) {
    let Some(sh) = shell(shell_name) else {
        return skipped(shell_name);
    };
    let mut pod = Pod::new(sh, &format!("native-{shell_name}-{restart_after_ms}"));
    let first_run = pod.start("native");
    assert_eq!(
        pod.exit_code(first_run, Duration::from_secs(5)),
        Some(0),
        "the first run exits 0"
    );

    let regular = pod.start("legacy");
    sleep(Duration::from_millis(restart_after_ms));
    let restarted = pod.start("native");

    let ran = pod.ran(Duration::from_millis(WAIT_SECONDS * 1000 + 2500));
    let late = restart_after_ms > WAIT_SECONDS * 1000;
    // Exactly one copy runs the sidecar: the native one, unless its restart
    // came after the regular copy stopped waiting.
    assert_eq!(ran, [if late { "legacy" } else { "native" }], "{shell_name}");
    assert_eq!(
        pod.exit_code(regular, Duration::from_millis(500)),
        None,
        "the regular copy runs the sidecar or idles: exiting would only get it restarted"
    );
    if late {
        // The kubelet restarts a sidecar that exits: the late native copy
        // yields once, then idles, so the pod settles.
        assert_eq!(pod.exit_code(restarted, Duration::from_secs(2)), Some(0));
        let again = pod.start("native");
        assert_eq!(pod.exit_code(again, Duration::from_secs(2)), None, "idles");
        assert_eq!(pod.ran(Duration::ZERO), ["legacy"]);
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
    let init = pod.start("native");
    assert_eq!(
        pod.exit_code(init, Duration::from_secs(5)),
        Some(0),
        "a plain init container that completes"
    );
    let regular = pod.start("legacy");
    let ran = pod.ran(Duration::from_millis(WAIT_SECONDS * 1000 + 1500));
    assert_eq!(ran, ["legacy"], "{shell_name}");
    assert_eq!(
        pod.exit_code(regular, Duration::from_millis(100)),
        None,
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
    let first = pod.start("native");
    assert_eq!(pod.exit_code(first, Duration::from_secs(5)), Some(0));
    pod.start("legacy");
    if native {
        pod.start("native");
    }
    let owner = if native { "native" } else { "legacy" };
    assert_eq!(
        pod.ran(Duration::from_millis(WAIT_SECONDS * 1000 + 1500)),
        [owner]
    );

    pod.kill_all();
    let init = pod.start("native");
    if native {
        assert_eq!(
            pod.exit_code(init, Duration::from_secs(2)),
            None,
            "runs the sidecar"
        );
    } else {
        assert_eq!(
            pod.exit_code(init, Duration::from_secs(10)),
            Some(0),
            "a plain init container that completes, so the regular containers start"
        );
    }
    pod.start("legacy");
    assert_eq!(
        pod.ran(Duration::from_millis(WAIT_SECONDS * 1000 + 1500)),
        [owner, owner]
    );
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
    assert_eq!(pod.ran(Duration::from_millis(1500)), [owner]);
}
