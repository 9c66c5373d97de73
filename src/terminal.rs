//! A hidden line from the terminal, read so that no copy of it outlives the read: the terminal in
//! raw mode (rustix's termios), `read(2)` into fixed buffers that are zeroed when dropped, and a
//! small line editor. A terminal library keeps its last raw read (a pasted key) in a buffer we
//! cannot wipe; this module exists so that nothing does.
//!
//! The editor ([`LineEditor`]) is pure: bytes in, a [`Step`] out, so it is tested without a
//! terminal. Nothing here prints; the caller renders the prompt. Unix only: Windows consoles
//! are read through inquire (see Cargo.toml), and use only [`HiddenLine`] from here.
#![cfg_attr(not(unix), allow(dead_code))]

use secrecy::SecretString;
use zeroize::{Zeroize, Zeroizing};

/// The longest line kept. A key is far shorter; anything longer is reported, never truncated.
pub(crate) const MAX_LINE: usize = 4096;

/// How long a lone ESC waits for the rest of an escape sequence (an arrow key, a paste marker)
/// before it counts as the Esc key: 30 ms. Terminals send a sequence in one write.
#[cfg(unix)]
const ESCAPE_WAIT: rustix::event::Timespec = rustix::event::Timespec {
    tv_sec: 0,
    tv_nsec: 30_000_000,
};

/// What a finished read gives.
pub(crate) enum HiddenLine {
    /// The line without surrounding white space.
    Entered(SecretString),
    /// More than [`MAX_LINE`] bytes were typed or pasted; the rest was dropped, not kept.
    TooLong,
    /// The bytes were not UTF-8 text.
    NotUtf8,
    /// Esc, Ctrl-C, Ctrl-D on an empty line, or the terminal went away.
    Cancelled,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum TerminalError {
    #[error("the terminal cannot be switched to raw mode ({0})")]
    RawMode(std::io::Error),
    #[error("reading from the terminal failed ({0})")]
    Read(std::io::Error),
}

/// What the editor wants after a byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// Keep reading.
    More,
    /// Enter: the line is done.
    Submit,
    /// Esc, Ctrl-C, or Ctrl-D on an empty line.
    Cancel,
}

/// Where the editor is inside an escape sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Escape {
    None,
    /// An ESC, not yet known to start a sequence.
    Start,
    /// `ESC [` and the parameter so far; `None` once it is not a plain number.
    Csi(Option<u16>),
    /// `ESC O`: one more byte ends it.
    Ss3,
}

/// The line being typed, in one fixed buffer that never reallocates and is zeroed on drop.
pub(crate) struct LineEditor {
    text: Zeroizing<Box<[u8]>>,
    len: usize,
    too_long: bool,
    escape: Escape,
    /// Between bracketed paste markers: everything is text, nothing is a command.
    in_paste: bool,
    /// A line break was pasted: the line is submitted when the paste ends.
    paste_ends_line: bool,
}

impl LineEditor {
    pub(crate) fn new() -> Self {
        Self {
            text: Zeroizing::new(vec![0u8; MAX_LINE].into_boxed_slice()),
            len: 0,
            too_long: false,
            escape: Escape::None,
            in_paste: false,
            paste_ends_line: false,
        }
    }

    /// Takes bytes up to the first that ends the line; bytes after it are ignored.
    pub(crate) fn feed(&mut self, bytes: &[u8]) -> Step {
        for &byte in bytes {
            let step = self.step(byte);
            if step != Step::More {
                return step;
            }
        }
        Step::More
    }

    /// Whether the last byte was an ESC that may still start a sequence: the reader waits
    /// briefly for more, then calls [`LineEditor::escape_alone`].
    pub(crate) fn awaiting_escape(&self) -> bool {
        self.escape == Escape::Start && !self.in_paste
    }

    /// Nothing followed the ESC: it was the Esc key.
    pub(crate) fn escape_alone(&mut self) -> Step {
        if self.awaiting_escape() {
            self.escape = Escape::None;
            Step::Cancel
        } else {
            Step::More
        }
    }

    /// The line as typed, then an empty editor.
    pub(crate) fn finish(&mut self) -> HiddenLine {
        let line = if self.too_long {
            HiddenLine::TooLong
        } else {
            match std::str::from_utf8(&self.text[..self.len]) {
                Ok(text) => HiddenLine::Entered(SecretString::from(text.trim())),
                Err(_) => HiddenLine::NotUtf8,
            }
        };
        self.clear();
        line
    }

    fn step(&mut self, byte: u8) -> Step {
        match self.escape {
            Escape::None => {}
            Escape::Start => {
                self.escape = match byte {
                    b'[' => Escape::Csi(Some(0)),
                    b'O' => Escape::Ss3,
                    // Esc, then a control key: the Esc counts on its own.
                    0x00..=0x1f | 0x7f if !self.in_paste => return Step::Cancel,
                    // Alt and a key: not text, not a command.
                    _ => Escape::None,
                };
                return Step::More;
            }
            Escape::Csi(param) => return self.csi(param, byte),
            Escape::Ss3 => {
                self.escape = Escape::None;
                return Step::More;
            }
        }
        if self.in_paste {
            return self.pasted(byte);
        }
        match byte {
            0x1b => self.escape = Escape::Start,
            b'\r' | b'\n' => return Step::Submit,
            // Ctrl-C
            0x03 => return Step::Cancel,
            // Ctrl-D ends an empty line, as it would end a shell.
            0x04 if self.len == 0 && !self.too_long => return Step::Cancel,
            // Backspace, DEL
            0x08 | 0x7f => self.backspace(),
            // Ctrl-U
            0x15 => self.clear(),
            // Other control characters (Tab, Ctrl-Z, ...) are not part of a key.
            0x00..=0x1f => {}
            _ => self.push(byte),
        }
        Step::More
    }

    /// A byte of `ESC [ <parameter> <final>`; only the paste markers `200~` and `201~` matter.
    fn csi(&mut self, param: Option<u16>, byte: u8) -> Step {
        match byte {
            b'0'..=b'9' => {
                let digit = u16::from(byte - b'0');
                self.escape =
                    Escape::Csi(param.and_then(|p| p.checked_mul(10)?.checked_add(digit)));
                Step::More
            }
            // Other parameter and intermediate bytes (`;`, `?`, ...).
            0x20..=0x3f => {
                self.escape = Escape::Csi(None);
                Step::More
            }
            // The final byte.
            0x40..=0x7e => {
                self.escape = Escape::None;
                match (param, byte) {
                    (Some(200), b'~') => {
                        self.in_paste = true;
                        Step::More
                    }
                    (Some(201), b'~') => self.end_paste(),
                    _ => Step::More,
                }
            }
            // Not a sequence after all: the byte counts on its own (a Ctrl-C still cancels).
            _ => {
                self.escape = Escape::None;
                self.step(byte)
            }
        }
    }

    fn pasted(&mut self, byte: u8) -> Step {
        match byte {
            // The end marker starts with ESC.
            0x1b => self.escape = Escape::Start,
            // Text after a pasted line break is not part of the key.
            b'\r' | b'\n' => self.paste_ends_line = true,
            // Control characters in a paste are not commands: a pasted Ctrl-C does not cancel.
            0x00..=0x1f | 0x7f => {}
            _ if self.paste_ends_line => {}
            _ => self.push(byte),
        }
        Step::More
    }

    fn end_paste(&mut self) -> Step {
        self.in_paste = false;
        if std::mem::take(&mut self.paste_ends_line) {
            Step::Submit
        } else {
            Step::More
        }
    }

    fn push(&mut self, byte: u8) {
        if self.len < self.text.len() {
            self.text[self.len] = byte;
            self.len += 1;
        } else {
            self.too_long = true;
        }
    }

    /// Removes the last character, all bytes of it when it is multi-byte UTF-8.
    fn backspace(&mut self) {
        while self.len > 0 {
            self.len -= 1;
            let byte = std::mem::take(&mut self.text[self.len]);
            // Stop after the first byte of a character (anything but a continuation byte).
            if byte & 0xc0 != 0x80 {
                break;
            }
        }
    }

    fn clear(&mut self) {
        self.text[..self.len].zeroize();
        self.len = 0;
        self.too_long = false;
    }
}

/// Reads one hidden line from the controlling terminal: no echo, the editor's keys, and the
/// terminal's previous mode restored on every way out (a guard, so also on a panic).
/// `show_prompt` is called once echo is off, never before: what someone types as soon as the
/// question appears must not be echoed (it was, on a busy machine, when the question came
/// first).
#[cfg(unix)]
pub(crate) fn read_hidden_line(show_prompt: impl FnOnce()) -> Result<HiddenLine, TerminalError> {
    use rustix::io::Errno;

    let terminal = unix::Terminal::open();
    let fd = terminal.fd();
    let _raw = unix::RawMode::enter(fd)?;
    show_prompt();
    let mut editor = LineEditor::new();
    // Read straight into a buffer that is wiped; std's stdin buffer would keep a copy.
    let mut chunk = Zeroizing::new([0u8; 256]);
    loop {
        let read = match rustix::io::read(fd, &mut chunk[..]) {
            Ok(0) => return Ok(HiddenLine::Cancelled),
            Ok(n) => n,
            Err(Errno::INTR) => continue,
            // A non-blocking stdin: wait for input rather than spin.
            Err(Errno::AGAIN) => {
                unix::input_within(fd, None)?;
                continue;
            }
            Err(e) => return Err(TerminalError::Read(e.into())),
        };
        let step = editor.feed(&chunk[..read]);
        chunk[..read].zeroize();
        let step = match step {
            Step::More
                if editor.awaiting_escape() && !unix::input_within(fd, Some(&ESCAPE_WAIT))? =>
            {
                editor.escape_alone()
            }
            step => step,
        };
        match step {
            Step::More => {}
            Step::Submit => return Ok(editor.finish()),
            Step::Cancel => return Ok(HiddenLine::Cancelled),
        }
    }
}

#[cfg(unix)]
mod unix {
    use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

    use rustix::event::{PollFd, PollFlags, Timespec, poll};
    use rustix::fs::{Mode, OFlags, open};
    use rustix::io::Errno;
    use rustix::termios::{OptionalActions, Termios, tcgetattr, tcsetattr};

    use super::TerminalError;

    /// Asks the terminal to mark pastes, so pasted text is never taken for keys.
    const PASTE_ON: &[u8] = b"\x1b[?2004h";
    const PASTE_OFF: &[u8] = b"\x1b[?2004l";

    /// The controlling terminal, or stdin when it cannot be opened (stdin is then the terminal:
    /// the prompt is only shown when it is).
    pub(super) enum Terminal {
        Tty(OwnedFd),
        Stdin(std::io::Stdin),
    }

    impl Terminal {
        pub(super) fn open() -> Self {
            let flags = OFlags::RDWR | OFlags::NOCTTY | OFlags::CLOEXEC;
            match open("/dev/tty", flags, Mode::empty()) {
                Ok(fd) => Terminal::Tty(fd),
                Err(_) => Terminal::Stdin(std::io::stdin()),
            }
        }

        pub(super) fn fd(&self) -> BorrowedFd<'_> {
            match self {
                Terminal::Tty(fd) => fd.as_fd(),
                Terminal::Stdin(stdin) => stdin.as_fd(),
            }
        }
    }

    /// The terminal in raw mode until dropped; then its previous mode again.
    pub(super) struct RawMode<'fd> {
        fd: BorrowedFd<'fd>,
        saved: Termios,
    }

    impl<'fd> RawMode<'fd> {
        pub(super) fn enter(fd: BorrowedFd<'fd>) -> Result<Self, TerminalError> {
            let saved = tcgetattr(fd).map_err(|e| TerminalError::RawMode(e.into()))?;
            let mut raw = saved.clone();
            raw.make_raw();
            // Output as before, so a newline still returns the cursor.
            raw.output_modes = saved.output_modes;
            tcsetattr(fd, OptionalActions::Now, &raw)
                .map_err(|e| TerminalError::RawMode(e.into()))?;
            let guard = RawMode { fd, saved };
            write_all(fd, PASTE_ON);
            Ok(guard)
        }
    }

    impl Drop for RawMode<'_> {
        fn drop(&mut self) {
            write_all(self.fd, PASTE_OFF);
            let _ = tcsetattr(self.fd, OptionalActions::Now, &self.saved);
        }
    }

    /// Best effort: a terminal that ignores the paste mode still works, pastes are just unmarked.
    fn write_all(fd: BorrowedFd<'_>, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            match rustix::io::write(fd, bytes) {
                Ok(0) => return,
                Ok(n) => bytes = &bytes[n..],
                Err(Errno::INTR) => {}
                Err(_) => return,
            }
        }
    }

    /// Whether input arrives within `wait` (`None`: however long it takes).
    pub(super) fn input_within(
        fd: BorrowedFd<'_>,
        wait: Option<&Timespec>,
    ) -> Result<bool, TerminalError> {
        loop {
            let mut fds = [PollFd::new(&fd, PollFlags::IN)];
            match poll(&mut fds, wait) {
                Ok(n) => return Ok(n > 0),
                Err(Errno::INTR) => {}
                Err(e) => return Err(TerminalError::Read(e.into())),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;

    const ESC: u8 = 0x1b;

    /// Feeds `bytes`; returns the step and the finished line's text, or what else it was.
    fn run(bytes: &[u8]) -> (Step, String) {
        let mut editor = LineEditor::new();
        let step = editor.feed(bytes);
        (step, describe(editor.finish()))
    }

    fn describe(line: HiddenLine) -> String {
        match line {
            HiddenLine::Entered(text) => text.expose_secret().to_string(),
            HiddenLine::TooLong => "<too long>".into(),
            HiddenLine::NotUtf8 => "<not utf-8>".into(),
            HiddenLine::Cancelled => "<cancelled>".into(),
        }
    }

    #[test]
    fn printable_bytes_make_the_line_and_enter_submits_it() {
        assert_eq!(
            run(b"flux_dev_abc\r"),
            (Step::Submit, "flux_dev_abc".into())
        );
        assert_eq!(run(b"abc\n"), (Step::Submit, "abc".into()));
        assert_eq!(run(b"abc"), (Step::More, "abc".into()));
        // Surrounding white space is not part of the line.
        assert_eq!(run(b"  abc \r"), (Step::Submit, "abc".into()));
    }

    #[test]
    fn bytes_after_enter_are_not_taken() {
        let mut editor = LineEditor::new();
        assert_eq!(editor.feed(b"abc\rdef"), Step::Submit);
        assert_eq!(describe(editor.finish()), "abc");
    }

    #[test]
    fn backspace_removes_the_last_character_and_does_nothing_on_an_empty_line() {
        assert_eq!(run(b"\x7f\x08\x7fab\x7fc\r"), (Step::Submit, "ac".into()));
        assert_eq!(run(b"ab\x08\x08\x08\x08x\r"), (Step::Submit, "x".into()));
    }

    #[test]
    fn ctrl_u_clears_the_line() {
        assert_eq!(run(b"abc\x15de\r"), (Step::Submit, "de".into()));
        assert_eq!(run(b"abc\x15\r"), (Step::Submit, "".into()));
    }

    #[test]
    fn ctrl_c_cancels_and_ctrl_d_cancels_only_an_empty_line() {
        assert_eq!(run(b"abc\x03").0, Step::Cancel);
        assert_eq!(run(b"\x04").0, Step::Cancel);
        assert_eq!(run(b"ab\x04c\r"), (Step::Submit, "abc".into()));
    }

    #[test]
    fn other_control_characters_are_ignored() {
        assert_eq!(run(b"a\tb\x1ac\x00\r"), (Step::Submit, "abc".into()));
    }

    #[test]
    fn a_lone_escape_cancels_only_once_nothing_follows() {
        let mut editor = LineEditor::new();
        assert_eq!(editor.feed(b"abc\x1b"), Step::More);
        assert!(editor.awaiting_escape());
        assert_eq!(editor.escape_alone(), Step::Cancel);
        // Esc, then a control key before the wait is over: the Esc still cancels.
        assert_eq!(run(b"abc\x1b\r").0, Step::Cancel);
        // Without a pending ESC the timeout means nothing.
        let mut editor = LineEditor::new();
        editor.feed(b"abc");
        assert!(!editor.awaiting_escape());
        assert_eq!(editor.escape_alone(), Step::More);
    }

    #[test]
    fn escape_sequences_are_skipped() {
        // Arrow keys (CSI and SS3 forms), Delete, a modified arrow, Alt-x.
        for sequence in [
            &b"\x1b[A"[..],
            b"\x1b[D",
            b"\x1bOA",
            b"\x1b[3~",
            b"\x1b[1;5C",
            b"\x1bx",
        ] {
            let mut input = b"ab".to_vec();
            input.extend_from_slice(sequence);
            input.extend_from_slice(b"c\r");
            assert_eq!(run(&input), (Step::Submit, "abc".into()), "{sequence:?}");
        }
    }

    #[test]
    fn an_escape_sequence_split_across_reads_is_still_skipped() {
        let mut editor = LineEditor::new();
        assert_eq!(editor.feed(b"ab\x1b"), Step::More);
        assert!(editor.awaiting_escape());
        assert_eq!(editor.feed(b"[A"), Step::More);
        assert!(!editor.awaiting_escape());
        assert_eq!(editor.feed(b"c\r"), Step::Submit);
        assert_eq!(describe(editor.finish()), "abc");
    }

    #[test]
    fn a_control_character_inside_a_sequence_still_counts() {
        assert_eq!(run(b"ab\x1b[1\x03").0, Step::Cancel);
    }

    #[test]
    fn bracketed_paste_is_text_and_a_pasted_line_break_submits_when_it_ends() {
        // A paste without a line break: more can be typed.
        assert_eq!(
            run(b"\x1b[200~flux_dev_abc\x1b[201~d\r"),
            (Step::Submit, "flux_dev_abcd".into())
        );
        // Control characters in a paste are not commands; Esc inside is not a cancel.
        let mut editor = LineEditor::new();
        assert_eq!(editor.feed(b"\x1b[200~ab\x03\x15\x7f\x04c"), Step::More);
        editor.feed(&[ESC]);
        assert!(
            !editor.awaiting_escape(),
            "an ESC in a paste waits for the end marker"
        );
        assert_eq!(editor.feed(b"[201~\r"), Step::Submit);
        assert_eq!(describe(editor.finish()), "abc");
        // A pasted trailing newline ends the line with the paste; text after it is dropped.
        let mut editor = LineEditor::new();
        assert_eq!(editor.feed(b"\x1b[200~key\nmore"), Step::More);
        assert_eq!(editor.feed(b"\x1b[201~"), Step::Submit);
        assert_eq!(describe(editor.finish()), "key");
    }

    #[test]
    fn multi_byte_utf8_is_text_and_backspace_removes_a_whole_character() {
        let input = "flux_dev_é€😀\r".as_bytes();
        assert_eq!(run(input), (Step::Submit, "flux_dev_é€😀".into()));
        let mut input = "ab€".as_bytes().to_vec();
        input.extend_from_slice(b"\x7fc\r");
        assert_eq!(run(&input), (Step::Submit, "abc".into()));
        // Bytes that are not UTF-8 are reported, not passed on.
        assert_eq!(run(b"ab\xff\r").1, "<not utf-8>");
    }

    #[test]
    fn non_ascii_text_reaches_the_key_check_which_names_it() {
        let mut editor = LineEditor::new();
        editor.feed("flux_dev_abcdefghijklmnopqrsté\r".as_bytes());
        let HiddenLine::Entered(key) = editor.finish() else {
            panic!("not entered")
        };
        let reason = crate::keys::check_format(&key).unwrap_err().to_string();
        assert!(reason.contains("a non-ASCII character"), "{reason}");
    }

    #[test]
    fn an_overlong_line_is_reported_as_too_long_not_truncated() {
        let mut input = vec![b'a'; MAX_LINE];
        assert_eq!(
            run(&input).1,
            "a".repeat(MAX_LINE),
            "exactly the limit is kept"
        );
        input.extend_from_slice(b"bcd\r");
        assert_eq!(run(&input), (Step::Submit, "<too long>".into()));
        // The same in a paste.
        let mut paste = b"\x1b[200~".to_vec();
        paste.extend(std::iter::repeat_n(b'a', MAX_LINE + 1));
        paste.extend_from_slice(b"\x1b[201~\r");
        assert_eq!(run(&paste).1, "<too long>");
        // Ctrl-U starts over.
        let mut input = vec![b'a'; MAX_LINE + 10];
        input.extend_from_slice(b"\x15ok\r");
        assert_eq!(run(&input).1, "ok");
    }

    #[cfg(unix)]
    #[test]
    fn raw_mode_on_something_that_is_not_a_terminal_is_a_clear_error() {
        use std::os::fd::AsFd;

        let not_a_terminal = std::fs::File::open("/dev/null").unwrap();
        let Err(e) = unix::RawMode::enter(not_a_terminal.as_fd()) else {
            panic!("/dev/null was put in raw mode");
        };
        assert!(matches!(e, TerminalError::RawMode(_)), "{e:?}");
        assert!(
            e.to_string().contains("cannot be switched to raw mode"),
            "{e}"
        );
    }

    #[test]
    fn finish_leaves_an_empty_editor_and_a_wiped_buffer() {
        let mut editor = LineEditor::new();
        editor.feed(b"secret\r");
        let _ = editor.finish();
        assert_eq!(editor.len, 0);
        assert!(editor.text.iter().all(|b| *b == 0));
        // Backspace wipes what it removes too.
        editor.feed(b"xy\x7f");
        assert_eq!(&editor.text[..3], b"x\0\0");
    }
}
