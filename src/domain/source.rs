//! Files as the analysis receives them: a path and what could be read of it.

use sha2::{Digest, Sha256};

use super::diagnostic::{Code, Diagnostic, Position};

/// One file handed to the analysis by the filesystem adapter.
#[derive(Clone, Debug)]
pub struct InputFile {
    /// Repository-relative path with forward slashes.
    pub path: String,
    pub content: FileContent,
}

#[derive(Clone, Debug)]
pub enum FileContent {
    Bytes(Vec<u8>),
    /// A large file read as a stream when its checks run (examples files: memory does not
    /// grow with the data set).
    Stream(Opener),
    /// The file's role says it is not read (eval logs, README.md…).
    NotRead,
    TooLarge {
        size: u64,
        limit: u64,
    },
    /// A symbolic link whose target lies outside the repository; it was not followed.
    SymlinkOutside {
        target: String,
    },
    Unreadable {
        reason: String,
    },
}

/// Opens a file's bytes for one streamed read; provided by the filesystem adapter.
#[derive(Clone)]
pub struct Opener(
    pub std::sync::Arc<dyn Fn() -> std::io::Result<Box<dyn std::io::BufRead + Send>> + Send + Sync>,
);

impl std::fmt::Debug for Opener {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("Opener")
    }
}

impl FileContent {
    /// A reader over the content, for those that have one.
    pub fn reader(&self) -> Option<std::io::Result<Box<dyn std::io::BufRead + Send + '_>>> {
        match self {
            FileContent::Bytes(bytes) => Some(Ok(Box::new(std::io::Cursor::new(bytes.as_slice())))),
            FileContent::Stream(opener) => {
                Some((opener.0)().map(|reader| reader as Box<dyn std::io::BufRead + Send>))
            }
            _ => None,
        }
    }
}

/// Hex sha256 of some bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    sha256_hex_of_digest(&Sha256::digest(bytes))
}

/// The sha256 (hex) of everything `reader` yields, read in blocks (a log of any size in
/// constant memory).
pub fn sha256_hex_of_reader(reader: &mut impl std::io::Read) -> std::io::Result<String> {
    let mut hasher = Sha256::new();
    let mut block = vec![0; 64 * 1024];
    loop {
        match reader.read(&mut block) {
            Ok(0) => break,
            Ok(read) => hasher.update(&block[..read]),
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
    Ok(sha256_hex_of_digest(&hasher.finalize()))
}

/// A finished sha256 digest as hex.
pub fn sha256_hex_of_digest(digest: &[u8]) -> String {
    let mut text = String::with_capacity(64);
    for byte in digest {
        use std::fmt::Write;
        let _ = write!(text, "{byte:02x}");
    }
    text
}

/// Turns the bytes of a text file into a string, or a finding saying why it is not text.
pub fn decode<'a>(path: &str, bytes: &'a [u8]) -> Result<&'a str, Diagnostic> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    match std::str::from_utf8(bytes) {
        Ok(text) if text.trim().is_empty() => {
            Err(
                Diagnostic::error(Code::EmptyFile, path, Position::START, "the file is empty")
                    .with_hint("fill it in or delete it"),
            )
        }
        Ok(text) => Ok(text),
        Err(error) => {
            let valid = &bytes[..error.valid_up_to()];
            let line = valid.iter().filter(|b| **b == b'\n').count() + 1;
            let line_start = valid.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
            let column = String::from_utf8_lossy(&valid[line_start..])
                .chars()
                .count()
                + 1;
            Err(Diagnostic::error(
                Code::InvalidUtf8,
                path,
                Position::new(line, column),
                format!(
                    "the file is not valid UTF-8 (byte offset {})",
                    error.valid_up_to()
                ),
            )
            .with_hint("save the file as UTF-8"))
        }
    }
}

/// A finding for a file that could not be read at all; `None` for readable content.
pub fn unreadable_finding(path: &str, content: &FileContent) -> Option<Diagnostic> {
    let finding = match content {
        FileContent::Bytes(_) | FileContent::Stream(_) | FileContent::NotRead => return None,
        FileContent::TooLarge { size, limit } => Diagnostic::error(
            Code::FileTooLarge,
            path,
            Position::START,
            format!(
                "the file is {size} bytes; promptops reads at most {limit} bytes of such a file"
            ),
        )
        .with_hint("split it up or remove what does not belong in it"),
        FileContent::SymlinkOutside { target } => Diagnostic::error(
            Code::SymlinkOutsideRepository,
            path,
            Position::START,
            format!("symbolic link to `{target}`, outside the repository; not followed"),
        )
        .with_hint("replace the link with the file itself"),
        FileContent::Unreadable { reason } => Diagnostic::error(
            Code::UnreadableFile,
            path,
            Position::START,
            format!("cannot read the file: {reason}"),
        ),
    };
    Some(finding)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_utf8_is_located() {
        let error = decode("f", b"id: a\nname: caf\xe9\n").unwrap_err();
        assert_eq!(
            (error.code, error.line, error.column),
            ("invalid-utf8", 2, 10)
        );
    }

    #[test]
    fn empty_and_blank_files_are_refused() {
        assert_eq!(decode("f", b"").unwrap_err().code, "empty-file");
        assert_eq!(decode("f", b" \n\n").unwrap_err().code, "empty-file");
    }

    #[test]
    fn bom_is_dropped() {
        assert_eq!(decode("f", b"\xEF\xBB\xBFid: a").unwrap(), "id: a");
    }

    #[test]
    fn sha256_of_empty_input() {
        assert_eq!(
            sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
