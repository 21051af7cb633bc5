//! Logging to stderr: JSON lines for machines, or text for people. Whatever
//! a field holds (a group name from an event is written by whoever can call
//! IAM), a record stays on one line: in text, control characters are written
//! escaped, so no field can start a line of its own that looks like another
//! record; JSON escapes them already.

use std::io::Write;

use tracing_subscriber::fmt::MakeWriter;

use crate::settings::LogFormat;

pub fn init(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(if format == LogFormat::Json { "info" } else { "warn" })
    });
    let subscriber = tracing_subscriber::fmt().with_env_filter(filter);
    match format {
        LogFormat::Json => subscriber
            .json()
            .flatten_event(true)
            .with_writer(std::io::stderr)
            .init(),
        // No colours: their escape sequences are control characters too.
        LogFormat::Text => subscriber.with_ansi(false).with_writer(OneLine).init(),
    }
}

/// Hands out one writer per record, which writes the record escaped when it is dropped.
struct OneLine;

impl<'a> MakeWriter<'a> for OneLine {
    type Writer = Record;

    fn make_writer(&'a self) -> Record {
        Record(Vec::new())
    }
}

/// One record, as formatted.
struct Record(Vec<u8>);

impl Write for Record {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for Record {
    fn drop(&mut self) {
        let text = String::from_utf8_lossy(&self.0);
        let line = escaped(text.strip_suffix('\n').unwrap_or(&text));
        // One write per record, so concurrent records never interleave.
        let _ = std::io::stderr().lock().write_all(format!("{line}\n").as_bytes());
    }
}

/// `text` with every control character written as an escape.
fn escaped(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push('\t'),
            c if c.is_control() => out.push_str(&format!("\\u{{{:04x}}}", u32::from(c))),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_forged_field_cannot_start_a_line() {
        let forged = "admins\n{\"log\":\"audit\",\"outcome\":\"applied\"}\r\u{1b}[2K";
        let line = escaped(&format!("WARN reading a group's members failed group={forged}"));
        assert!(
            !line.contains('\n') && !line.contains('\r') && !line.contains('\u{1b}'),
            "{line}"
        );
        assert!(line.contains("admins\\n{\"log\":\"audit\""), "{line}");
    }
}
