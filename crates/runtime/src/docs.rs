//! Shell completions and man pages, written from an app's own clap definition, so they always
//! match its flags. Every app has the two subcommands [`Docs`] defines.

use std::io::Write;

use clap::{CommandFactory, Subcommand};
use clap_complete::Shell;

/// The subcommands that document an app.
#[derive(Subcommand, Debug, Clone)]
pub enum Docs {
    /// Print the shell completion script, e.g. `<app> completions bash >
    /// ~/.local/share/bash-completion/completions/<app>` (also zsh, fish, elvish, powershell).
    Completions {
        /// The shell the script is for.
        shell: Shell,
    },
    /// Print the man page (roff), e.g. `<app> man > ~/.local/share/man/man1/<app>.1`.
    Man,
}

impl Docs {
    /// Writes the completion script or man page of `C`'s command line on standard output.
    pub fn run<C: CommandFactory>(&self) -> anyhow::Result<()> {
        let mut command = C::command();
        let name = command.get_name().to_owned();
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        match self {
            Self::Completions { shell } => {
                clap_complete::generate(*shell, &mut command, name, &mut out);
            }
            Self::Man => clap_mangen::Man::new(command).render(&mut out)?,
        }
        out.flush()?;
        Ok(())
    }
}
