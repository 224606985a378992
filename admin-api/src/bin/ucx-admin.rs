//! `ucx-admin`: the gateway's admin API from the command line. Every command prints the JSON
//! answer; a refusal prints the gateway's message and exits with status 1.

use clap::{Parser, Subcommand, ValueEnum};
use serde::Serialize;
use ucx_admin_api::{
    AcknowledgementInput, AdminClient, AdminError, CustomerInput, ErasureInput, FleetReleaseInput,
    FleetSilenceInput, InstallationInput, LicenceInput, SilenceInput, SilenceKindInput,
    TelemetryInput,
};
use ucx_schemas::{AlertContact, ContractTier, Region};

#[derive(Parser)]
#[command(
    version,
    about = "Manage customers, installations, telemetry opt-out, silences, acknowledgements and fleet incidents"
)]
struct Cli {
    /// The gateway's admin listener (`ingest.admin_listen`; the public listener does not serve
    /// the admin API).
    #[arg(long, env = "UCX_ADMIN_URL", default_value = "http://127.0.0.1:8090")]
    admin_url: String,
    /// A file holding the admin token (`ingest.admin_token` of the gateway). Without it the
    /// token is read from `UCX_ADMIN_TOKEN`; never from the command line, where `ps` shows it.
    #[arg(long, env = "UCX_ADMIN_TOKEN_FILE")]
    token_file: Option<std::path::PathBuf>,
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
        region: RegionArg,
        #[arg(long, value_enum)]
        tier: Tier,
        /// Last day of the support contract, YYYY-MM-DD.
        #[arg(long)]
        care_end_date: Option<String>,
        /// An alert contact as EMAIL=MIN_SEVERITY (INFO, WARNING or CRITICAL); repeatable.
        #[arg(long = "contact", value_parser = parse_contact)]
        contacts: Vec<AlertContact>,
    },
    /// Switch a customer's telemetry on or off (off also purges its stored data).
    Telemetry {
        customer_id: String,
        #[arg(value_enum)]
        state: Switch,
        /// Who asks (the customer, a reseller on its behalf): kept with the purge.
        #[arg(long)]
        by: Option<String>,
        /// Why, kept likewise.
        #[arg(long)]
        reason: Option<String>,
    },
    /// Erase a customer: telemetry off, its stored data purged, its registry records (contacts,
    /// installations and their keys, silences) deleted.
    EraseCustomer {
        customer_id: String,
        /// Who asks (the customer, a reseller on its behalf): kept with the purge.
        #[arg(long)]
        by: String,
        /// Why, kept likewise.
        #[arg(long)]
        reason: String,
    },
    /// What is left of a customer in every store after its erasure: the registry (records,
    /// contacts), every ClickHouse table holding customer data, every topic keyed by its
    /// installations (with the date the topic's retention drops the last copy). Reads the broker
    /// and ClickHouse directly with the stages' config (needs no admin token); prints JSON and
    /// exits 0 when nothing is left, 1 when something is (listed under "left").
    ErasureReport {
        customer_id: String,
        /// The stages' config file (its kafka and clickhouse sections); `UCX_…` variables
        /// override it, as for the stages.
        #[arg(long, env = "UCX_CONFIG")]
        config: Option<std::path::PathBuf>,
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
    /// List fleet incidents (a rule opening across the fleet at once, its customer mail held)
    /// and fleet-wide silences.
    FleetIncidents,
    /// Release a held fleet incident (the alerts are real): the held customer mail goes out.
    /// Also ends a fleet-wide silence early.
    ReleaseFleetIncident {
        /// As listed, e.g. service_stopped@8.3.0 or service_stopped@all-versions.
        incident_id: String,
        #[arg(long)]
        by: String,
        #[arg(long, default_value = "")]
        comment: String,
    },
    /// Silence a rule fleet-wide (one UCX Suite version, or every version) for a while: no
    /// customer mail of it anywhere; alerts are still recorded for support.
    FleetSilence {
        #[arg(long)]
        rule: String,
        /// Only installations running this UCX Suite version.
        #[arg(long)]
        version: Option<String>,
        #[arg(long)]
        minutes: u32,
        /// Why, for the next engineer.
        #[arg(long)]
        comment: String,
        /// Who.
        #[arg(long)]
        by: String,
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
    fn input(self, kind: SilenceKindInput) -> (String, SilenceInput) {
        let input = SilenceInput {
            kind: Some(kind),
            customer_id: self.customer,
            installation_id: self.installation,
            rule_id: self.rule,
            starts_at: self.starts_at,
            ends_at: None,
            duration_minutes: Some(self.minutes),
            comment: self.comment,
            created_by: self.by,
        };
        (self.silence_id, input)
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum RegionArg {
    #[value(name = "EU")]
    Eu,
    #[value(name = "US")]
    Us,
    #[value(name = "ME")]
    Me,
}

impl From<RegionArg> for Region {
    fn from(region: RegionArg) -> Self {
        match region {
            RegionArg::Eu => Region::EU,
            RegionArg::Us => Region::US,
            RegionArg::Me => Region::ME,
        }
    }
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

impl From<Tier> for ContractTier {
    fn from(tier: Tier) -> Self {
        match tier {
            Tier::Basic => ContractTier::Basic,
            Tier::Gold => ContractTier::Gold,
            Tier::Platinum => ContractTier::Platinum,
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum Switch {
    On,
    Off,
}

fn parse_contact(text: &str) -> Result<AlertContact, String> {
    let (email, severity) = text
        .split_once('=')
        .ok_or("expected EMAIL=MIN_SEVERITY, e.g. it@example.com=WARNING")?;
    let min_severity =
        serde_json::from_value(serde_json::Value::String(severity.to_ascii_uppercase()))
            .map_err(|_| format!("{severity:?} is not INFO, WARNING or CRITICAL"))?;
    Ok(AlertContact {
        email: email.to_string(),
        min_severity,
    })
}

/// Prints an answer as pretty JSON.
fn show(value: &impl Serialize) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).expect("answers serialise")
    );
}

async fn run(client: &AdminClient, command: Command) -> Result<(), AdminError> {
    match command {
        // reads the stores, not the admin API: main runs it before asking for a token
        Command::ErasureReport { .. } => unreachable!("the erasure report is run by main"),
        Command::Customers => show(&client.customers().await?),
        Command::Customer { customer_id } => show(&client.customer(&customer_id).await?),
        Command::PutCustomer {
            customer_id,
            name,
            region,
            tier,
            care_end_date,
            contacts,
        } => {
            let input = CustomerInput {
                name,
                region: region.into(),
                contract_tier: tier.into(),
                care_end_date,
                alert_contacts: contacts,
                telemetry_enabled: None,
            };
            show(&client.put_customer(&customer_id, &input).await?.value);
        }
        Command::Telemetry {
            customer_id,
            state,
            by,
            reason,
        } => {
            let input = TelemetryInput {
                enabled: matches!(state, Switch::On),
                by,
                reason,
            };
            show(&client.switch_telemetry(&customer_id, &input).await?);
        }
        Command::EraseCustomer {
            customer_id,
            by,
            reason,
        } => {
            let input = ErasureInput { by, reason };
            show(&client.erase_customer(&customer_id, &input).await?);
        }
        Command::AddInstallation {
            customer_id,
            installation_id,
        } => {
            let input = InstallationInput {
                installation_id,
                licensed_users: None,
                licensed_devices: None,
            };
            show(&client.add_installation(&customer_id, &input).await?);
        }
        Command::RotateKey { installation_id } => show(&client.rotate_key(&installation_id).await?),
        Command::Revoke { installation_id } => show(&client.revoke(&installation_id).await?),
        Command::Licence {
            installation_id,
            users,
            devices,
        } => {
            let input = LicenceInput {
                licensed_users: users,
                licensed_devices: devices,
            };
            show(&client.set_licence(&installation_id, &input).await?);
        }
        Command::Silence(args) => {
            let (silence_id, input) = args.input(SilenceKindInput::Silence);
            show(&client.put_silence(&silence_id, &input).await?.value);
        }
        Command::Maintenance(args) => {
            let (silence_id, input) = args.input(SilenceKindInput::Maintenance);
            show(&client.put_silence(&silence_id, &input).await?.value);
        }
        Command::Silences => show(&client.silences().await?),
        Command::EndSilence { silence_id } => show(&client.end_silence(&silence_id).await?),
        Command::Ack {
            alert_id,
            by,
            comment,
        } => show(
            &client
                .acknowledge(&alert_id, &AcknowledgementInput { by, comment })
                .await?,
        ),
        Command::FleetIncidents => show(&client.fleet_incidents().await?),
        Command::ReleaseFleetIncident {
            incident_id,
            by,
            comment,
        } => show(
            &client
                .release_fleet_incident(&incident_id, &FleetReleaseInput { by, comment })
                .await?,
        ),
        Command::FleetSilence {
            rule,
            version,
            minutes,
            comment,
            by,
        } => {
            let input = FleetSilenceInput {
                rule_id: rule,
                ucx_version: version,
                ends_at: None,
                duration_minutes: Some(minutes),
                comment,
                created_by: by,
            };
            show(&client.fleet_silence(&input).await?.value);
        }
    }
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let cli = Cli::parse();
    if let Command::ErasureReport {
        customer_id,
        config,
    } = &cli.command
    {
        std::process::exit(erasure_report(customer_id, config.as_deref()).await);
    }
    let token = match admin_token(cli.token_file.as_deref()) {
        Ok(token) => token,
        Err(message) => {
            eprintln!("ucx-admin: {message}");
            std::process::exit(2);
        }
    };
    let client = AdminClient::new(&cli.admin_url, &token);
    match run(&client, cli.command).await {
        Ok(()) => {}
        Err(error @ AdminError::Refused { .. }) => {
            eprintln!("ucx-admin: {error}");
            std::process::exit(1);
        }
        Err(error @ AdminError::Transport { .. }) => {
            eprintln!("ucx-admin: {error}");
            std::process::exit(2);
        }
    }
}

/// The stores the erasure report reads, from the stages' configuration.
#[derive(serde::Deserialize)]
struct Stores {
    kafka: ucx_common::config::KafkaSettings,
    clickhouse: ucx_common::config::ClickHouseSettings,
}

/// Prints the report; answers the exit status (0 erased, 1 something left, 2 not readable).
async fn erasure_report(customer_id: &str, config: Option<&std::path::Path>) -> i32 {
    let report = async {
        let stores: Stores = ucx_common::config::load(config)?;
        ucx_admin_api::erasure_report::erasure_report(
            &stores.kafka,
            &stores.clickhouse,
            customer_id,
        )
        .await
    };
    match report.await {
        Ok(report) => {
            println!(
                "{}",
                serde_json::to_string_pretty(&report).expect("a report serialises")
            );
            if report.erased {
                0
            } else {
                1
            }
        }
        Err(error) => {
            eprintln!("ucx-admin: erasure report: {error:#}");
            2
        }
    }
}

/// The token from `--token-file` (its first line), else from `UCX_ADMIN_TOKEN`.
fn admin_token(file: Option<&std::path::Path>) -> Result<String, String> {
    let token = match file {
        Some(path) => std::fs::read_to_string(path)
            .map_err(|error| format!("cannot read the token file {}: {error}", path.display()))?
            .lines()
            .next()
            .unwrap_or_default()
            .trim()
            .to_string(),
        None => std::env::var("UCX_ADMIN_TOKEN").unwrap_or_default(),
    };
    if token.is_empty() {
        return Err(
            "no admin token: set UCX_ADMIN_TOKEN or pass --token-file <file> (the gateway's ingest.admin_token)".into(),
        );
    }
    Ok(token)
}
