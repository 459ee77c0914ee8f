//! The subcommands. Every one of them finds the database exactly as `serve` does
//! ([`crate::startup::DatabaseHandle::open`]), so with the embedded default `create-org` works
//! whether or not `serve` is running.

use crate::config::Settings;
use crate::startup::{Application, DatabaseHandle, StartupError};
use clap::{Parser, Subcommand};
use std::io::Read;

#[derive(Debug, Parser)]
#[command(
    name = "rapport",
    version,
    about = "Measures the therapeutic alliance: scores feedback forms, finds ruptures."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP service (the default).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// On a Citus coordinator: migrate, then distribute every table by organization and create
    /// the functions on every node (idempotent); prints JSON with what it distributed. Refuses
    /// on a database without the citus extension. See docs/scaling.md.
    Distribute,
    /// Print the OpenAPI document.
    Openapi,
    /// Create an organization and its first admin; prints JSON with the admin's password once.
    CreateOrg {
        #[arg(long)]
        name: String,
        #[arg(long)]
        admin_email: String,
        /// Read the admin password from standard input instead of generating one.
        #[arg(long)]
        admin_password_stdin: bool,
    },
    /// Seal kept transcript text again under the first key of RAPPORT_TRANSCRIPT_KEYS (after
    /// adding a new key first); prints JSON counts. Run before removing an old key.
    ResealTranscripts,
}

pub fn run(cli: Cli, settings: Settings) -> Result<(), StartupError> {
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(settings),
        Command::Migrate => {
            let database = DatabaseHandle::open(&settings)?;
            let applied = database.migrate(&settings);
            database.close();
            println!("applied {} migration(s)", applied?);
            Ok(())
        }
        Command::Distribute => {
            let database = DatabaseHandle::open(&settings)?;
            let distributed = database.distribute(&settings);
            database.close();
            println!("{}", serde_json::to_string_pretty(&distributed?).expect("names serialize"));
            Ok(())
        }
        Command::Openapi => {
            println!("{}", crate::openapi::to_pretty_json());
            Ok(())
        }
        Command::CreateOrg { name, admin_email, admin_password_stdin } => {
            let password = if admin_password_stdin {
                let mut input = String::new();
                std::io::stdin().read_to_string(&mut input).map_err(StartupError::Stdin)?;
                Some(input.trim_end_matches(['\r', '\n']).to_owned())
            } else {
                None
            };
            let database = DatabaseHandle::open(&settings)?;
            let created = database.create_organization(&settings, &name, &admin_email, password);
            database.close();
            println!("{}", serde_json::to_string_pretty(&created?).expect("a plain struct serializes"));
            Ok(())
        }
        Command::ResealTranscripts => {
            let database = DatabaseHandle::open(&settings)?;
            let counts = database.reseal_transcripts(&settings);
            database.close();
            println!("{}", serde_json::to_string_pretty(&counts?).expect("counts serialize"));
            Ok(())
        }
    }
}

fn serve(settings: Settings) -> Result<(), StartupError> {
    let system = actix_web::rt::System::new();
    system.block_on(async move {
        let mut database = DatabaseHandle::open(&settings)?;
        database.supervise();
        let result = async {
            let application = Application::build(&settings, database.url()).await?;
            tracing::info!(address = %application.address(), "rapport is serving");
            application.run_until_stopped().await.map_err(StartupError::Serve)
        }
        .await;
        // The private cluster belongs to the service: stop it with the service.
        database.close_always();
        result
    })
}
