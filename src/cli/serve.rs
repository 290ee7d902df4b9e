//! `cdex-harness serve`: the web console (see [`crate::serve`] and docs/web.md).

use clap::Args;
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Args, Debug, Clone)]
pub struct ServeArgs {
    /// Where the console listens; beyond loopback it requires a token
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// Where each run's folder goes (RUNS_DIR/<run-id>/: results.json, report.html,
    /// junit.xml, the config used)
    #[arg(long, value_name = "DIR", default_value = "reports/console")]
    pub runs_dir: PathBuf,
    /// The token every request must carry (generated and printed when the console listens
    /// beyond loopback and none is given)
    #[arg(
        long,
        value_name = "T",
        env = "CDEX_HARNESS_TOKEN",
        hide_env_values = true
    )]
    pub token: Option<String>,
    /// Beyond loopback, let the form name trigger commands and files of this machine (whoever
    /// has the token may then run commands here); always allowed on loopback
    #[arg(long)]
    pub allow_commands: bool,
}

pub async fn serve(args: ServeArgs) -> i32 {
    let listen: SocketAddr = match args.listen.parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!(
                "error: --listen {}: {e} (write e.g. 127.0.0.1:8080)",
                args.listen
            );
            return super::EXIT_USAGE;
        }
    };
    let opts = crate::serve::ServeOptions {
        listen,
        runs_dir: args.runs_dir,
        token: args.token,
        allow_commands: args.allow_commands,
    };
    let handle = match crate::serve::start(opts).await {
        Ok(h) => h,
        Err(e) => {
            eprintln!("error: {e}");
            return super::EXIT_USAGE;
        }
    };
    eprintln!("cdex-harness serve: listening on {}", handle.url());
    if let Some(t) = handle.token() {
        eprintln!("token: {t}");
        eprintln!("open {}?token={t}", handle.url());
    }
    if !listen.ip().is_loopback() {
        eprintln!(
            "warning: the console is reachable from other machines; every request needs the token"
        );
    }
    super::run::interrupted().await;
    eprintln!(
        "\ncdex-harness serve: stopping (running runs are stopped and their reports written)"
    );
    handle.stop().await;
    super::EXIT_PASS
}
