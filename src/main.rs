//! The `onyx` command line: one module per subcommand under `cmd/`.
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod cmd;

#[derive(Parser)]
#[command(name = "onyx", version, about = "Compile model specs to ONNX, run them, and ship them", propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    Compile(cmd::compile::Args),
    Summary(cmd::summary::Args),
    Inspect(cmd::inspect::Args),
    Import(cmd::import::Args),
    Pack(cmd::pack::Args),
    Predict(cmd::predict::Args),
    Train(cmd::train::Args),
    Evaluate(cmd::evaluate::Args),
    Serve(cmd::serve::Args),
    Deploy(cmd::deploy::Args),
    Export(cmd::export::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Compile(a) => cmd::compile::run(a),
        Command::Summary(a) => cmd::summary::run(a),
        Command::Inspect(a) => cmd::inspect::run(a),
        Command::Import(a) => cmd::import::run(a),
        Command::Pack(a) => cmd::pack::run(a),
        Command::Predict(a) => cmd::predict::run(a),
        Command::Train(a) => cmd::train::run(a),
        Command::Evaluate(a) => cmd::evaluate::run(a),
        Command::Serve(a) => cmd::serve::run(a),
        Command::Deploy(a) => cmd::deploy::run(a),
        Command::Export(a) => cmd::export::run(a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", cmd::describe(&e));
            ExitCode::from(cmd::exit_code(&e))
        }
    }
}
