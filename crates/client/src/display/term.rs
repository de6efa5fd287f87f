//! The terminal side of the live display: the panel redrawn in place on stdout, and the keys
//! read from stdin in cbreak mode (no line editing, no echo; Ctrl-C still interrupts).
use std::io::{IsTerminal, Write};
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use rustix::termios::{
    tcgetattr, tcgetwinsize, tcsetattr, LocalModes, OptionalActions, SpecialCodeIndex, Termios,
};

/// Rows and columns of the terminal on stdout, if stdout is one.
pub fn size() -> Option<(usize, usize)> {
    let out = std::io::stdout();
    if !out.is_terminal() {
        return None;
    }
    let ws = tcgetwinsize(out.as_fd()).ok()?;
    let rows = if ws.ws_row == 0 { 24 } else { ws.ws_row };
    let cols = if ws.ws_col == 0 { 80 } else { ws.ws_col };
    Some((usize::from(rows), usize::from(cols)))
}

/// Columns to lay out for when stdout is not a terminal: `$COLUMNS`, else 80 (as Rich does).
pub fn columns_off_terminal() -> usize {
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse::<usize>().ok())
        .filter(|c| (2..=10_000).contains(c))
        .unwrap_or(80)
}

/// The panel on the terminal, redrawn in place.
#[derive(Debug, Default)]
pub struct Screen {
    drawn: usize,
}

impl Screen {
    /// Draws a title rule, `height` rows (blank-padded so the panel does not jump) and the
    /// status line, over the previous frame; every row is cut to fit `width` so none wraps.
    pub fn draw(
        &mut self,
        title: &str,
        rows: &[String],
        height: usize,
        status: &str,
        width: usize,
    ) {
        let fit = |s: &str| -> String {
            let max = width.saturating_sub(1).max(1);
            if s.chars().count() <= max {
                s.to_owned()
            } else {
                s.chars().take(max).collect()
            }
        };
        let mut frame = String::new();
        if self.drawn > 0 {
            frame.push_str(&format!("\x1b[{}A\r\x1b[J", self.drawn));
        }
        let head = format!("── {title} ");
        let pad = width.saturating_sub(1).saturating_sub(head.chars().count());
        frame.push_str(&fit(&format!("{head}{}", "─".repeat(pad))));
        frame.push('\n');
        for i in 0..height {
            frame.push_str(&fit(rows.get(i).map_or("", String::as_str)));
            frame.push_str("\x1b[K\n");
        }
        frame.push_str(&fit(status));
        frame.push_str("\x1b[K\n");
        self.drawn = height + 2;
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(frame.as_bytes()).and_then(|()| out.flush());
    }
}

/// Keys typed on the terminal while the display runs; the terminal's mode is restored when
/// this is dropped.
pub struct Keys {
    rx: tokio::sync::mpsc::Receiver<u8>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
    saved: Termios,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keys").finish_non_exhaustive()
    }
}

impl Keys {
    /// Starts reading keys when stdin and stdout are terminals (as the reference, which reads
    /// keys only from a terminal).
    pub fn start() -> Option<Keys> {
        let stdin = std::io::stdin();
        if !stdin.is_terminal() || !std::io::stdout().is_terminal() {
            return None;
        }
        let saved = tcgetattr(stdin.as_fd()).ok()?;
        let mut cbreak = saved.clone();
        cbreak
            .local_modes
            .remove(LocalModes::ICANON | LocalModes::ECHO);
        cbreak.special_codes[SpecialCodeIndex::VMIN] = 1;
        cbreak.special_codes[SpecialCodeIndex::VTIME] = 0;
        // `Now`, not `Flush`: keys typed before the display started are kept.
        tcsetattr(stdin.as_fd(), OptionalActions::Now, &cbreak).ok()?;
        let (tx, rx) = tokio::sync::mpsc::channel(256);
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let thread = std::thread::spawn(move || read_keys(&tx, &stopped));
        Some(Keys {
            rx,
            stop,
            thread: Some(thread),
            saved,
        })
    }

    /// The next key.
    pub async fn next(&mut self) -> Option<u8> {
        self.rx.recv().await
    }
}

/// Reads stdin until told to stop, polling so the thread ends with the display and leaves no
/// reader behind to steal the next prompt's input.
fn read_keys(tx: &tokio::sync::mpsc::Sender<u8>, stop: &AtomicBool) {
    use rustix::event::{poll, PollFd, PollFlags, Timespec};
    let stdin = std::io::stdin();
    let fd = stdin.as_fd();
    let tick = Timespec {
        tv_sec: 0,
        tv_nsec: 100_000_000,
    };
    let mut buf = [0u8; 64];
    while !stop.load(Ordering::Relaxed) {
        let mut fds = [PollFd::new(&fd, PollFlags::IN)];
        match poll(&mut fds, Some(&tick)) {
            Ok(0) => continue,
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => continue,
            Err(_) => return,
        }
        match rustix::io::read(fd, &mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                for b in &buf[..n] {
                    if tx.blocking_send(*b).is_err() {
                        return;
                    }
                }
            }
        }
    }
}

impl Drop for Keys {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        self.rx.close();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let _ = tcsetattr(std::io::stdin().as_fd(), OptionalActions::Now, &self.saved);
    }
}
