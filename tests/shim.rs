//! The universal injector's shim (src/shim.sh), run under real shells, with
//! this test playing the kubelet: it starts the two copies the way a kubelet
//! with, or without, native sidecar support would, and checks that exactly one
//! of them runs the sidecar.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use rstest::rstest;

const SHIM: &str = include_str!("../src/shim.sh");
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

impl Drop for Pod {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// The regular copy's role for a pod restartPolicy, as src/compat.rs picks it.
fn legacy_role(restart_policy: &str) -> &'static str {
    if restart_policy == "Always" {
        "legacy-stay"
    } else {
        "legacy-exit"
    }
}

/// A kubelet that supports native sidecars: the init copy runs, exits 0, and
/// is restarted `restart_after` later, while the regular copy starts at once.
#[rstest]
#[case::restart_lands_first("dash", "Always", 0)]
#[case::restart_lands_first_job("dash", "Never", 0)]
#[case::regular_copy_reads_before_the_restart("dash", "OnFailure", 1200)]
#[case::regular_copy_reads_before_the_restart_long_running("dash", "Always", 1200)]
#[case::restart_lands_after_the_wait("dash", "Never", 3500)]
#[case::busybox_restart_lands_first("busybox", "Always", 0)]
#[case::busybox_regular_copy_reads_before_the_restart("busybox", "Never", 1200)]
#[case::busybox_restart_lands_after_the_wait("busybox", "Always", 3500)]
fn native_supported(#[case] shell_name: &str, #[case] restart_policy: &str, #[case] restart_after_ms: u64) {
    let Some(sh) = shell(shell_name) else {
        println!("SKIPPED: {shell_name} is not installed");
        return;
    };
    let mut pod = Pod::new(
        sh,
        &format!("native-{shell_name}-{restart_policy}-{restart_after_ms}"),
    );
    let first_run = pod.start("native");
    assert_eq!(
        pod.exit_code(first_run, Duration::from_secs(5)),
        Some(0),
        "the first run exits 0"
    );

    let role = legacy_role(restart_policy);
    let regular = pod.start(role);
    sleep(Duration::from_millis(restart_after_ms));
    let _restarted = pod.start("native");

    let ran = pod.ran(Duration::from_millis(WAIT_SECONDS * 1000 + 2500));
    let late = restart_after_ms > WAIT_SECONDS * 1000;
    // Exactly one copy runs the sidecar: the native one, unless its restart
    // came after the regular copy stopped waiting.
    assert_eq!(ran, [if late { role } else { "native" }], "{shell_name}");
    if !late {
        let exited = pod.exit_code(regular, Duration::from_millis(500));
        match restart_policy {
            "Always" => assert_eq!(
                exited, None,
                "the regular copy idles where exiting would restart it"
            ),
            _ => assert_eq!(
                exited,
                Some(0),
                "the regular copy exits 0 so the Job pod can complete"
            ),
        }
    }
}

/// A kubelet without native sidecars (or an API server that dropped the
/// field): the init copy runs once as a plain init container, then the
/// regular copy starts, finds no native copy, and runs the sidecar itself.
#[rstest]
#[case::long_running("dash", "Always")]
#[case::job_on_failure("dash", "OnFailure")]
#[case::job_never("dash", "Never")]
#[case::busybox_long_running("busybox", "Always")]
#[case::busybox_job_never("busybox", "Never")]
fn native_unsupported(#[case] shell_name: &str, #[case] restart_policy: &str) {
    let Some(sh) = shell(shell_name) else {
        println!("SKIPPED: {shell_name} is not installed");
        return;
    };
    let mut pod = Pod::new(sh, &format!("legacy-{shell_name}-{restart_policy}"));
    let init = pod.start("native");
    assert_eq!(
        pod.exit_code(init, Duration::from_secs(5)),
        Some(0),
        "a plain init container that completes"
    );
    let role = legacy_role(restart_policy);
    let regular = pod.start(role);
    let ran = pod.ran(Duration::from_millis(WAIT_SECONDS * 1000 + 1500));
    assert_eq!(ran, [role], "{shell_name}");
    assert_eq!(
        pod.exit_code(regular, Duration::from_millis(100)),
        None,
        "the regular copy is the sidecar now"
    );
}

/// A copy whose sidecar crashed is restarted by the kubelet: the owner runs it
/// again, the other copy does not take over.
#[rstest]
#[case::native_owner("native", "legacy-stay")]
#[case::legacy_owner("legacy-stay", "native")]
fn a_restarted_owner_runs_the_sidecar_again(#[case] owner: &str, #[case] other: &str) {
    let Some(sh) = shell("dash") else {
        println!("SKIPPED: dash is not installed");
        return;
    };
    let mut pod = Pod::new(sh, &format!("restart-{owner}"));
    std::fs::write(pod.dir.join("log-shipper.started"), "").expect("write");
    std::fs::create_dir(pod.dir.join("log-shipper.claim")).expect("mkdir");
    std::fs::write(
        pod.dir.join("log-shipper.claim/owner"),
        format!("{}\n", owner.trim_end_matches("-stay")),
    )
    .expect("write");
    pod.start(owner);
    pod.start(other);
    assert_eq!(pod.ran(Duration::from_millis(1500)), [owner]);
}
