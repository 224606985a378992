//! `ucx-admin`: the gateway's admin API from the command line. Every command prints the JSON
//! answer; a refusal prints the gateway's message and exits with status 1.

use clap::{Parser, Subcommand, ValueEnum};
use reqwest::Method;
use serde_json::{json, Value};

#[derive(Parser)]
#[command(
    version,
    about = "Manage customers, installations, telemetry opt-out, silences and acknowledgements"
)]
struct Cli {
    /// The gateway's base URL.
    #[arg(long, env = "UCX_GATEWAY", default_value = "http://127.0.0.1:8080")]
    gateway: String,
    /// The admin token (`ingest.admin_token` of the gateway).
    #[arg(long, env = "UCX_ADMIN_TOKEN", hide_env_values = true)]
    token: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// List every customer.
    Customers,
    /// Show a customer and its installations.
    Customer { customer_id: String },
    /// Create or update a customer.
    PutCustomer {
        customer_id: String,
        #[arg(long)]
        name: String,
        #[arg(long, value_enum)]
        region: Region,
        #[arg(long, value_enum)]
        tier: Tier,
        /// Last day of the support contract, YYYY-MM-DD.
        #[arg(long)]
        care_end_date: Option<String>,
        /// An alert contact as EMAIL=MIN_SEVERITY (INFO, WARNING or CRITICAL); repeatable.
        #[arg(long = "contact", value_parser = parse_contact)]
        contacts: Vec<Value>,
    },
    /// Switch a customer's telemetry on or off (off also purges its stored data).
    Telemetry {
        customer_id: String,
        #[arg(value_enum)]
        state: Switch,
    },
    /// Register an installation of a customer and print its key (shown this once).
    AddInstallation {
        customer_id: String,
        installation_id: String,
    },
    /// Issue a new key for an installation; the old key stops working.
    RotateKey { installation_id: String },
    /// Revoke an installation's key.
    Revoke { installation_id: String },
    /// Set the call-manager users and devices an installation's licences cover.
    Licence {
        installation_id: String,
        #[arg(long)]
        users: Option<i32>,
        #[arg(long)]
        devices: Option<i32>,
    },
    /// Silence alerts of a customer (one installation, one rule) for a while: recorded for
    /// support, the customer is not notified, no reminders.
    Silence(SilenceArgs),
    /// Declare a maintenance window: no alert opens (heartbeat loss included) meanwhile.
    Maintenance(SilenceArgs),
    /// List silences and maintenance windows.
    Silences,
    /// End a silence or maintenance window now.
    EndSilence { silence_id: String },
    /// Acknowledge an open alert: no more reminders; it still resolves by itself.
    Ack {
        alert_id: String,
        #[arg(long)]
        by: String,
        #[arg(long, default_value = "")]
        comment: String,
    },
}

#[derive(clap::Args)]
struct SilenceArgs {
    /// A name of your choosing; declaring it again replaces it.
    silence_id: String,
    #[arg(long)]
    customer: String,
    /// Only this installation of the customer.
    #[arg(long)]
    installation: Option<String>,
    /// Only this rule (e.g. disk_free_low).
    #[arg(long)]
    rule: Option<String>,
    /// How long, from now (or from --starts-at).
    #[arg(long)]
    minutes: u32,
    /// RFC 3339 start (default: now).
    #[arg(long)]
    starts_at: Option<String>,
    /// Why, for the next engineer.
    #[arg(long)]
    comment: String,
    /// Who.
    #[arg(long)]
    by: String,
}

impl SilenceArgs {
    fn request(self, kind: &str) -> (Method, String, Option<Value>) {
        (
            Method::PUT,
            format!("/v1/admin/silences/{}", self.silence_id),
            Some(json!({
                "kind": kind,
                "customer_id": self.customer,
                "installation_id": self.installation,
                "rule_id": self.rule,
                "starts_at": self.starts_at,
                "duration_minutes": self.minutes,
                "comment": self.comment,
                "created_by": self.by,
            })),
        )
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum Region {
    #[value(name = "EU")]
    Eu,
    #[value(name = "US")]
    Us,
    #[value(name = "ME")]
    Me,
}

#[derive(Clone, Copy, ValueEnum)]
enum Tier {
    #[value(name = "BASIC")]
    Basic,
    #[value(name = "GOLD")]
    Gold,
    #[value(name = "PLATINUM")]
    Platinum,
}

#[derive(Clone, Copy, ValueEnum)]
enum Switch {
    On,
    Off,
}

fn parse_contact(text: &str) -> Result<Value, String> {
    let (email, severity) = text
        .split_once('=')
        .ok_or("expected EMAIL=MIN_SEVERITY, e.g. it@example.com=WARNING")?;
    Ok(json!({"email": email, "min_severity": severity.to_ascii_uppercase()}))
}

fn value_name<T: ValueEnum>(value: T) -> String {
    value
        .to_possible_value()
        .expect("no skipped values")
        .get_name()
        .to_string()
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let cli = Cli::parse();
    let (method, path, body) = match cli.command {
        Command::Customers => (Method::GET, "/v1/admin/customers".to_string(), None),
        Command::Customer { customer_id } => (
            Method::GET,
            format!("/v1/admin/customers/{customer_id}"),
            None,
        ),
        Command::PutCustomer {
            customer_id,
            name,
            region,
            tier,
            care_end_date,
            contacts,
        } => (
            Method::PUT,
            format!("/v1/admin/customers/{customer_id}"),
            Some(json!({
                "name": name,
                "region": value_name(region),
                "contract_tier": value_name(tier),
                "care_end_date": care_end_date,
                "alert_contacts": contacts,
            })),
        ),
        Command::Telemetry { customer_id, state } => (
            Method::PUT,
            format!("/v1/admin/customers/{customer_id}/telemetry"),
            Some(json!({"enabled": matches!(state, Switch::On)})),
        ),
        Command::AddInstallation {
            customer_id,
            installation_id,
        } => (
            Method::POST,
            format!("/v1/admin/customers/{customer_id}/installations"),
            Some(json!({"installation_id": installation_id})),
        ),
        Command::RotateKey { installation_id } => (
            Method::POST,
            format!("/v1/admin/installations/{installation_id}/key"),
            None,
        ),
        Command::Revoke { installation_id } => (
            Method::POST,
            format!("/v1/admin/installations/{installation_id}/revoke"),
            None,
        ),
        Command::Licence {
            installation_id,
            users,
            devices,
        } => (
            Method::PUT,
            format!("/v1/admin/installations/{installation_id}/licence"),
            Some(json!({"licensed_users": users, "licensed_devices": devices})),
        ),
        Command::Silence(args) => args.request("silence"),
        Command::Maintenance(args) => args.request("maintenance"),
        Command::Silences => (Method::GET, "/v1/admin/silences".to_string(), None),
        Command::EndSilence { silence_id } => (
            Method::DELETE,
            format!("/v1/admin/silences/{silence_id}"),
            None,
        ),
        Command::Ack {
            alert_id,
            by,
            comment,
        } => (
            Method::POST,
            format!("/v1/admin/alerts/{alert_id}/acknowledge"),
            Some(json!({"by": by, "comment": comment})),
        ),
    };
    let url = format!("{}{path}", cli.gateway.trim_end_matches('/'));
    let mut request = reqwest::Client::new()
        .request(method, &url)
        .bearer_auth(&cli.token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = match request.send().await {
        Ok(response) => response,
        Err(error) => {
            eprintln!("ucx-admin: cannot reach the gateway at {url}: {error}");
            std::process::exit(2);
        }
    };
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    let shown = serde_json::from_str::<Value>(&text)
        .ok()
        .and_then(|value| serde_json::to_string_pretty(&value).ok())
        .unwrap_or(text);
    if status.is_success() {
        println!("{shown}");
    } else {
        eprintln!("ucx-admin: the gateway answered {status}:\n{shown}");
        std::process::exit(1);
    }
}
