//! `fluxloop man [--out-dir DIR]`: man pages from the clap definition `--help` is printed from.

use std::path::Path;

use clap::CommandFactory;
use clap_mangen::Man;

use crate::cli::{Cli, ManArgs};
use crate::error::{CliError, CliResult, ExitStatus};
use crate::output::Printer;

pub fn run(args: &ManArgs, p: &Printer) -> CliResult {
    let pages = pages();
    match &args.out_dir {
        None => {
            let mut page = Vec::new();
            pages[0]
                .render(&mut page)
                .map_err(|e| CliError::failure(format!("Could not render the man page: {e}")))?;
            p.text(String::from_utf8_lossy(&page));
        }
        Some(dir) => {
            for path in write_pages(&pages, dir)? {
                p.data(path.display().to_string());
            }
        }
    }
    Ok(ExitStatus::Success)
}

/// `fluxloop` first, then every command depth first; clap's `help` subcommands have none.
fn pages() -> Vec<Man> {
    fn walk(cmd: &clap::Command, out: &mut Vec<Man>) {
        out.push(Man::new(cmd.clone()));
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
            walk(sub, out);
        }
    }
    let mut root = Cli::command().disable_help_subcommand(true);
    // Built, so each subcommand knows its full name (`fluxloop-auth-login`) for its title.
    root.build();
    let mut pages = Vec::new();
    walk(&root, &mut pages);
    pages
}

fn write_pages(pages: &[Man], dir: &Path) -> CliResult<Vec<std::path::PathBuf>> {
    std::fs::create_dir_all(dir)
        .map_err(|e| CliError::failure(format!("Could not create {}: {e}", dir.display())))?;
    let mut written = Vec::new();
    for page in pages {
        let path = dir.join(page.get_filename());
        let mut text = Vec::new();
        page.render(&mut text)
            .and_then(|()| std::fs::write(&path, &text))
            .map_err(|e| CliError::failure(format!("Could not write {}: {e}", path.display())))?;
        written.push(path);
    }
    Ok(written)
}
