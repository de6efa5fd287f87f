//! The `live_display.*` keys and `--live-display/--no-live-display`, through the real vibectl,
//! the real `kubectl logs -f` on the fake API, with and without a terminal.
use crate::support;

use support::World;
use vibectl_testkit::fake_kube::PodLog;

/// `count` numbered lines, `line 01` ...
fn numbered(count: usize) -> String {
    (1..=count).map(|i| format!("line {i:02}\n")).collect()
}

async fn with_log(text: &str, stay_open: bool) -> World {
    let w = World::start().await;
    w.kube.set_pod_log(
        "default",
        "web-1",
        PodLog {
            text: text.to_owned(),
            stay_open,
        },
    );
    w
}

fn lines(stdout: &str) -> Vec<&str> {
    stdout.lines().filter(|l| !l.is_empty()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_lines_shows_only_the_newest_lines_and_the_flag_turns_the_display_off() {
    let w = with_log(&numbered(10), false).await;
    // The default (20) shows the whole 10-line stream.
    let run = w.vibectl(&["logs", "web-1", "-f", "--no-show-vibe"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(lines(&run.stdout).len(), 10, "{run:?}");
    assert!(run.stderr.contains("10 lines streamed"), "{run:?}");
    w.set("live_display.max_lines", "3").await;
    let run = w.vibectl(&["logs", "web-1", "-f", "--no-show-vibe"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        lines(&run.stdout),
        ["line 08", "line 09", "line 10"],
        "{run:?}"
    );
    assert!(run.stderr.contains("10 lines streamed"), "{run:?}");
    // --no-live-display: kubectl's output as it is, every line.
    let run = w
        .vibectl(&["logs", "web-1", "-f", "--no-live-display", "--no-show-vibe"])
        .await;
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(lines(&run.stdout).len(), 10, "{run:?}");
    assert!(!run.stderr.contains("lines streamed"), "{run:?}");
    // Without -f, logs never used the live display.
    let run = w.vibectl(&["logs", "web-1", "--no-show-vibe"]).await;
    assert_eq!(lines(&run.stdout).len(), 10, "{run:?}");
    // Out of range: refused, naming the key and the range.
    let run = w
        .vibectl(&["config", "set", "live_display.max_lines", "100000000"])
        .await;
    assert_ne!(run.code, 0, "{run:?}");
    assert!(
        run.stderr.contains("live_display.max_lines") && run.stderr.contains("1 to 10000"),
        "{run:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_filter_hides_lines_that_do_not_match_and_a_bad_one_is_refused() {
    let log: String = (1..=10)
        .map(|i| {
            if i % 2 == 0 {
                format!("ERROR {i}\n")
            } else {
                format!("INFO {i}\n")
            }
        })
        .collect();
    let w = with_log(&log, false).await;
    w.set("live_display.default_filter_regex", "^ERR").await;
    let run = w.vibectl(&["logs", "web-1", "-f", "--no-show-vibe"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        lines(&run.stdout),
        ["ERROR 2", "ERROR 4", "ERROR 6", "ERROR 8", "ERROR 10"],
        "{run:?}"
    );
    assert!(
        run.stderr.contains("filter '^ERR' hid 5 of the 10 kept"),
        "{run:?}"
    );
    // The summary still sees every kept line, as the reference's does.
    w.say("five errors");
    let run = w.vibectl(&["logs", "web-1", "-f"]).await;
    assert!(run.stdout.contains("five errors"), "{run:?}");
    let last = w.requests().pop().unwrap();
    assert!(last.contains("INFO 9"), "{last}");
    // An invalid regex is refused by `config set` ...
    let run = w
        .vibectl(&[
            "config",
            "set",
            "live_display.default_filter_regex",
            "(unclosed",
        ])
        .await;
    assert_ne!(run.code, 0, "{run:?}");
    assert!(
        run.stderr.contains("live_display.default_filter_regex")
            && run.stderr.contains("not a valid regular expression"),
        "{run:?}"
    );
    // ... and, written into the file by hand, stops every command before anything runs.
    let cfg = w.config_dir().join("config.yaml");
    let text = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("'^ERR'", "'(unclosed'")
        .replace("^ERR", "'(unclosed'");
    std::fs::write(&cfg, text).unwrap();
    let before = w.mock.requests().len();
    let run = w.vibectl(&["logs", "web-1", "-f"]).await;
    assert_ne!(run.code, 0, "{run:?}");
    assert!(
        run.stderr.contains("live_display.default_filter_regex")
            && run.stderr.contains("not a valid regular expression"),
        "{run:?}"
    );
    assert!(!run.stdout.contains("INFO"), "{run:?}");
    assert_eq!(w.mock.requests().len(), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrap_text_wraps_long_lines_or_cuts_them() {
    let long = format!("{}{}{}\n", "a".repeat(20), "b".repeat(20), "c".repeat(10));
    let w = with_log(&long, false).await;
    let cols = [("COLUMNS", "20")];
    let run = w
        .vibectl_env(&["logs", "web-1", "-f", "--no-show-vibe"], &cols)
        .await;
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        lines(&run.stdout),
        ["a".repeat(20), "b".repeat(20), "c".repeat(10)],
        "{run:?}"
    );
    w.set("live_display.wrap_text", "false").await;
    let run = w
        .vibectl_env(&["logs", "web-1", "-f", "--no-show-vibe"], &cols)
        .await;
    assert_eq!(
        lines(&run.stdout),
        [format!("{}…", "a".repeat(19))],
        "{run:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_buffer_keeps_the_last_lines_counts_the_dropped_and_bounds_hostile_ones() {
    let w = with_log(&numbered(10), false).await;
    w.set("live_display.stream_buffer_max_lines", "5").await;
    w.say("the last five lines");
    let run = w.vibectl(&["logs", "web-1", "-f"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stderr
            .contains("10 lines streamed, the oldest 5 dropped to keep the last 5"),
        "{run:?}"
    );
    // The panel shows kept lines only, and the summary saw only those.
    assert_eq!(
        lines(&run.stdout)[..5],
        ["line 06", "line 07", "line 08", "line 09", "line 10"],
        "{run:?}"
    );
    let last = w.requests().pop().unwrap();
    assert!(
        last.contains("line 10") && !last.contains("line 05"),
        "{last}"
    );
    assert!(last.contains("the 5 before them were not kept"), "{last}");
    let run = w
        .vibectl(&[
            "config",
            "set",
            "live_display.stream_buffer_max_lines",
            "1000000000",
        ])
        .await;
    assert_ne!(run.code, 0, "{run:?}");
    assert!(run.stderr.contains("1 to 1000000"), "{run:?}");
    // Hostile output: terminal escapes are removed, an endless line is cut.
    let hostile = format!("{}\nend\x1b]0;owned\x07\x1b[2J\n", "z".repeat(300 * 1024));
    w.kube.set_pod_log(
        "default",
        "web-1",
        PodLog {
            text: hostile,
            stay_open: false,
        },
    );
    let run = w.vibectl(&["logs", "web-1", "-f", "--no-show-vibe"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert!(!run.stdout.contains('\x1b') && !run.stdout.contains('\x07'));
    assert!(
        run.stdout.contains("end]0;owned[2J"),
        "{}",
        run.stdout.len()
    );
    assert!(
        run.stdout.contains("bytes of this line not kept"),
        "{}",
        run.stdout.len()
    );
    assert!(run.stdout.len() < 100 * 1024, "{}", run.stdout.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn save_writes_the_kept_filtered_lines_to_save_dir_privately() {
    let w = with_log(&numbered(10), true).await;
    let saves = w.dir.path().join("saves");
    w.set("live_display.stream_buffer_max_lines", "5").await;
    w.set("live_display.save_dir", saves.to_str().unwrap())
        .await;
    // On the terminal: [S]ave, a file name, Enter; a key to dismiss the message; [E]xit.
    let run = w
        .vibectl_tty_after(
            &["logs", "web-1", "-f", "--no-show-vibe"],
            "line 10",
            "sout.log\rxe",
        )
        .await;
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("[E]xit | [W]rap: on"), "{run:?}");
    assert!(run.stdout.contains("stopped with [E]xit"), "{run:?}");
    let saved = saves.join("out.log");
    assert_eq!(
        std::fs::read_to_string(&saved).unwrap(),
        "line 06\nline 07\nline 08\nline 09\nline 10\n"
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&saved).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    // With a filter typed at [F]: only matching lines are saved, under the suggested name.
    let run = w
        .vibectl_tty_after(
            &["logs", "web-1", "-f", "--no-show-vibe"],
            "line 10",
            "f(07|09)\rxs\rxe",
        )
        .await;
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("Filter set to '(07|09)'"), "{run:?}");
    let suggested: Vec<_> = std::fs::read_dir(&saves)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("vibectl_watch_web-1_")
        })
        .collect();
    assert_eq!(suggested.len(), 1, "{suggested:?}");
    assert_eq!(
        std::fs::read_to_string(&suggested[0]).unwrap(),
        "line 07\nline 09\n"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_watch_runs_under_the_live_display() {
    let w = World::start().await;
    // The fake API's watch ends after a moment; the bound stops kubectl if it retries.
    w.set("kubectl.timeout_seconds", "5").await;
    w.set("live_display.max_lines", "1").await;
    let run = w.vibectl(&["get", "pods", "-w", "--no-show-vibe"]).await;
    assert!(run.stderr.contains("lines streamed"), "{run:?}");
    // One line shown: the pod's row, not the table's header.
    assert_eq!(lines(&run.stdout).len(), 1, "{run:?}");
    assert!(run.stdout.contains("web-1"), "{run:?}");
    let run = w
        .vibectl(&["get", "pods", "-w", "--no-live-display", "--no-show-vibe"])
        .await;
    assert!(!run.stderr.contains("lines streamed"), "{run:?}");
    assert!(run.stdout.contains("NAME"), "{run:?}");
}
