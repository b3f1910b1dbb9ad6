//! Command lines that cannot end on their own: the uncatalogued sidecars of
//! pods that run to completion, like the upstream tutorial's `logshipper`
//! (`tail -F /opt/logs.txt` next to a Job's main container).
//!
//! A heuristic, read from `command` and `args` alone (an image's entrypoint is
//! not known at admission). Its rules, all here:
//!
//! | command line | why it never ends |
//! |---|---|
//! | `tail -f`, `-F`, `--follow`, `-f -n 0`… | follows a file forever |
//! | `sleep infinity`, `sleep inf`, `sleep` a year or more | sleeps forever |
//! | a shell loop `while true`, `while :`, `while [ 1 ]`, `until false` with no `exit`, `break` or `return` | loops forever |
//!
//! Accepted false negatives: anything behind an image's own entrypoint, and a
//! script too clever for these rules. Avoided false positives: `timeout …`
//! around the command, a loop that can `exit`/`break`/`return`, a `sleep` of a
//! number shorter than a year (a Job may well wait an hour).

use crate::request::Container;

/// Where a shell script is cut into words: white space and the shell's
/// list and grouping operators. (The Gatekeeper rules are generated from it.)
pub fn is_separator(c: char) -> bool {
    c.is_whitespace() || matches!(c, ';' | '&' | '|' | '(' | ')')
}

/// Why `container`'s command line cannot end on its own, if it cannot.
pub fn never_ends(container: &Container) -> Option<&'static str> {
    let words: Vec<&str> = container.command_line().collect();
    // A shell script is one word: read it as words too.
    let script: Vec<&str> = words
        .iter()
        .flat_map(|word| word.split(is_separator))
        .filter(|w| !w.is_empty())
        .collect();
    if script.contains(&"timeout") {
        return None;
    }
    if follows_a_file(&script) {
        return Some("its command tails a file with -f, which never ends");
    }
    if sleeps_forever(&script) {
        return Some("its command sleeps forever");
    }
    if loops_forever(&script) {
        return Some("its command loops forever, with no exit or break");
    }
    None
}

fn follows_a_file(words: &[&str]) -> bool {
    let follows = |flag: &&str| {
        *flag == "--follow"
            || flag.starts_with("--follow=")
            || (!flag.starts_with("--") && flag.contains(['f', 'F']))
    };
    words.iter().enumerate().any(|(at, word)| {
        *word == "tail"
            && words
                .get(at + 1..)
                .unwrap_or_default()
                .iter()
                .take_while(|w| w.starts_with('-'))
                .any(follows)
    })
}

fn sleeps_forever(words: &[&str]) -> bool {
    const A_YEAR: u64 = 365 * 24 * 3600;
    words.windows(2).any(|pair| match pair {
        ["sleep", duration] => {
            matches!(*duration, "infinity" | "inf")
                || duration
                    .trim_end_matches('s')
                    .parse::<u64>()
                    .is_ok_and(|seconds| seconds >= A_YEAR)
                || duration
                    .strip_suffix('d')
                    .and_then(|days| days.parse::<u64>().ok())
                    .is_some_and(|days| days >= 365)
        }
        _ => false,
    })
}

fn loops_forever(words: &[&str]) -> bool {
    let endless_head = words.windows(3).any(|w| {
        matches!(
            w,
            ["while", "true" | ":", _] | ["until", "false", _] | ["while", "[", "1" | "true"]
        )
    });
    let can_leave = words
        .iter()
        .any(|w| matches!(*w, "break" | "return") || w.starts_with("exit"));
    endless_head && !can_leave
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::Request;
    use rstest::rstest;
    use serde_json::{Value, json};

    fn judge(command: Value, args: Value) -> Option<&'static str> {
        let request = json!({"kind": {"kind": "Pod"}, "object": {"spec": {"containers": [
            {"name": "c", "image": "busybox", "command": command, "args": args}]}}});
        let view = Request::from_admission_request(&request).expect("well formed");
        let workload = view.workload().expect("well formed").expect("a pod");
        workload.spec.containers.first().and_then(never_ends)
    }

    #[rstest]
    // The tutorial's logshipper and its kin.
    #[case::tutorial_logshipper(json!(["sh", "-c", "tail -F /opt/logs.txt"]), json!(null), Some("tails"))]
    #[case::tail_f(json!(["tail"]), json!(["-f", "/var/log/app.log"]), Some("tails"))]
    #[case::tail_flags_together(json!(["tail", "-n0", "-qF", "/x"]), json!(null), Some("tails"))]
    #[case::tail_follow_long(json!(["tail", "--follow=name", "/x"]), json!(null), Some("tails"))]
    #[case::tail_dev_null(json!(["tail", "-f", "/dev/null"]), json!(null), Some("tails"))]
    #[case::sleep_infinity(json!(["sleep", "infinity"]), json!(null), Some("sleeps"))]
    #[case::sleep_in_a_script(json!(["/bin/sh", "-c", "echo ready; sleep inf"]), json!(null), Some("sleeps"))]
    #[case::sleep_max_int(json!(["sleep", "2147483647"]), json!(null), Some("sleeps"))]
    #[case::sleep_365_days(json!(["sleep", "365d"]), json!(null), Some("sleeps"))]
    #[case::while_true(json!(["sh", "-c", "while true; do ship-logs; sleep 5; done"]), json!(null), Some("loops"))]
    #[case::while_colon(json!(["bash", "-c"]), json!(["while :; do date; sleep 1; done"]), Some("loops"))]
    #[case::while_bracket_one(json!(["sh", "-c", "while [ 1 ]; do x; done"]), json!(null), Some("loops"))]
    #[case::until_false(json!(["sh", "-c", "until false; do x; done"]), json!(null), Some("loops"))]
    // One-shot commands that must not be flagged.
    #[case::plain_job(json!(["python", "report.py"]), json!(["--date", "yesterday"]), None)]
    #[case::tail_without_follow(json!(["tail", "-n", "100", "/var/log/app.log"]), json!(null), None)]
    #[case::tail_of_a_file_named_f(json!(["tail", "f"]), json!(null), None)]
    #[case::tail_under_timeout(json!(["timeout", "60", "tail", "-f", "/x"]), json!(null), None)]
    #[case::sleep_an_hour(json!(["sleep", "3600"]), json!(null), None)]
    #[case::loop_that_exits(json!(["sh", "-c", "while true; do check && exit 0; sleep 5; done"]), json!(null), None)]
    #[case::loop_that_breaks(json!(["sh", "-c", "while true; do [ -f /done ] && break; sleep 1; done"]), json!(null), None)]
    #[case::bounded_loop(json!(["sh", "-c", "for i in 1 2 3; do x; done"]), json!(null), None)]
    #[case::no_command(json!(null), json!(null), None)]
    #[case::word_true_elsewhere(json!(["app", "--verbose=true", "--while"]), json!(null), None)]
    fn command_lines(#[case] command: Value, #[case] args: Value, #[case] expected: Option<&str>) {
        let found = judge(command, args);
        match expected {
            Some(word) => assert!(found.is_some_and(|f| f.contains(word)), "{found:?}"),
            None => assert_eq!(found, None),
        }
    }
}
