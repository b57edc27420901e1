//! `doorplate demo` — the server with a throw-away demo school on 127.0.0.1:8080.

use anyhow::Context;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Address to listen on.
    #[arg(long, env = "DOORPLATE_LISTEN", default_value = "127.0.0.1:8080")]
    listen: String,
}

pub async fn run(data: Option<PathBuf>, args: Args) -> anyhow::Result<()> {
    let throwaway = data.is_none();
    let dir = data.unwrap_or_else(|| {
        std::env::temp_dir().join(format!(
            "doorplate-demo-{}-{}",
            std::process::id(),
            doorplate_server::school::now_micros()
        ))
    });
    // Private from the start (0700), as the server wants its data folder.
    let mut folder = std::fs::DirBuilder::new();
    folder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut folder, 0o700);
    folder
        .create(&dir)
        .with_context(|| format!("creating {}", dir.display()))?;
    let config = doorplate_server::Config::new(dir.clone());
    {
        let (_tx, rx) = tokio::sync::watch::channel(false);
        let app = doorplate_server::open_app(
            &config,
            std::sync::Arc::new(doorplate_server::school::clock::SystemClock),
            rx,
        )
        .await?;
        let school = doorplate_server::demo::seed(&app)
            .await
            .context("seeding the demo school")?;
        print_school(&args.listen, &school);
    }
    super::raise_fd_limit();
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    let result = super::serve_until_signal(listener, config, None).await;
    if throwaway {
        let _ = std::fs::remove_dir_all(&dir);
    }
    result
}

fn print_school(listen: &str, s: &doorplate_server::demo::DemoSchool) {
    let base = format!("http://{listen}");
    println!("\nDoorplate demo school — everything is thrown away when you stop it (Ctrl-C)\n");
    println!("Family app and staff messages:  {base}/app");
    println!("Admin console:                  {base}/admin");
    println!("API description:                {base}/api/v1/openapi.json\n");
    println!("Doorplates (open one per browser window; the link pairs it):");
    for (name, token) in &s.doorplates {
        println!("  {name:<28} {base}/kiosk#device={token}");
    }
    println!("\nLogins (password {}):", doorplate_server::demo::DEMO_PASSWORD);
    for (role, name, username, _) in &s.logins {
        println!("  {role:<9} {username:<18} {name}");
    }
    println!("\nStudents — type the card number and Enter on a kiosk (it acts as the card reader),");
    println!("or show the QR badge, or sign in with the username:");
    for (name, class, card, qr, username, _) in &s.students {
        println!("  {name:<22} {class:<22} card {card}  user {username:<9} badge {qr}");
    }
    println!();
}
