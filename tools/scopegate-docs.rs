//! `scopegate-docs` (`make docs-reference`): writes the documentation site's reference pages, which
//! scopegate generates from its code (`scopegate::reference`), into `docs/reference/`; with `--check`,
//! writes nothing and exits 1 naming each page that is not what the code makes.
//!
//! Usage: scopegate-docs [--check] [DIR]   (DIR: docs/reference)

#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut check = false;
    let mut dir = PathBuf::from("docs/reference");
    for arg in std::env::args().skip(1) {
        if arg == "--check" {
            check = true;
        } else {
            dir = PathBuf::from(arg);
        }
    }
    let mut stale = Vec::new();
    for (name, text) in scopegate::reference::pages() {
        let path = dir.join(name);
        let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
        if on_disk == text {
            continue;
        }
        if check {
            stale.push(path.display().to_string());
        } else if let Err(e) = std::fs::write(&path, &text) {
            eprintln!("scopegate-docs: cannot write {}: {e}", path.display());
            return ExitCode::from(2);
        } else {
            eprintln!("scopegate-docs: wrote {}", path.display());
        }
    }
    if stale.is_empty() {
        ExitCode::SUCCESS
    } else {
        eprintln!(
            "scopegate-docs: not what the code makes (run make docs-reference): {}",
            stale.join(", ")
        );
        ExitCode::from(1)
    }
}
