//! `devkit up`: create the resources of infra/template.yaml and write where they are.
//! `devkit seed`: fill them with demo data.
//! `devkit serve`: run the local system. `devkit token`: a token for a person of the directory, signed
//! by the local OpenID provider's key (what `tools/token.sh` prints).
//! `devkit verify`: check every list and total against the authoritative state (exits 1 on a difference).

use shared::ports::Directory;
use std::path::PathBuf;

use devkit::DevkitError;
use devkit::resources::{self, LocalResources};
use devkit::seed::{self, SeedPlan, Seeded};
use devkit::serve::{self, DevSettings};
use devkit::template::Template;
use store::Store;

const USAGE: &str = "usage: devkit up <resources.json> [prefix] | devkit seed <resources.json> <seeded.json> \
                     [applications] | devkit serve <resources.json> <seeded.json> | devkit token <resources.json> \
                     <agent_id> [--expires-in SECONDS] | devkit verify <resources.json> | devkit migrate <table>";

#[tokio::main]
async fn main() {
    shared::telemetry::init_local();
    if let Err(err) = run(std::env::args().skip(1).collect()).await {
        eprintln!("devkit: {err}");
        std::process::exit(1);
    }
}

async fn run(args: Vec<String>) -> Result<(), DevkitError> {
    let sdk = shared::aws::sdk_config();
    match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["up", out, rest @ ..] => {
            let prefix = rest.first().copied().unwrap_or("aor-dev-");
            let created = resources::create(&sdk, &Template::load()?, prefix, &[]).await?;
            write_json(out, &created)?;
            for (name, value) in created.env() {
                println!("  {name}={value}");
            }
            Ok(())
        }
        ["seed", resources_file, out, rest @ ..] => {
            let created: LocalResources = read_json(resources_file)?;
            let applications = match rest.first() {
                Some(n) => n.parse().map_err(|_| DevkitError::Usage(USAGE.into()))?,
                None => 3000,
            };
            // During open enrollment, a tenth as many of the coming year's as of the current one.
            let years =
                shared::config::Vars::from_env().enrollment_calendar()?.years_on(chrono::Utc::now().date_naive());
            let plan = SeedPlan {
                applications,
                last_year_applications: 60,
                year: years.current,
                coming: years.coming.map(|year| (year, applications / 10)),
                random_seed: 2026,
            };
            let store = Store::new(aws_sdk_dynamodb::Client::new(&sdk), created.table);
            let started = std::time::Instant::now();
            let seeded = seed::run(&store, &plan).await?;
            write_json(out, &seeded)?;
            println!(
                "  seeded {} applications ({} of plan year {}) and {} users in {:.1}s",
                seeded.applications,
                plan.applications,
                plan.year,
                seeded.users.len(),
                started.elapsed().as_secs_f64()
            );
            Ok(())
        }
        ["serve", resources_file, seeded_file] => {
            let created: LocalResources = read_json(resources_file)?;
            let seeded: Seeded = read_json(seeded_file)?;
            let settings = DevSettings::from_env()?;
            println!("  web page and HTTP API http://{}", settings.api);
            println!("  marketplace simulator http://{}  (control: /control)", settings.marketplace);
            println!("  ingest consumer       polling {}", created.ingest_queue_url);
            println!("  scheduled scan        every {:?}", settings.scan_interval);
            println!("  signing in through   {}", settings.issuer.issuer);
            serve::run(&sdk, &created, seeded.marketplace, settings).await
        }
        ["token", resources_file, agent_id, rest @ ..] => {
            let lifetime = match rest {
                [] => chrono::Duration::hours(1),
                ["--expires-in", seconds] => chrono::Duration::seconds(
                    seconds
                        .parse()
                        .map_err(|_| DevkitError::Usage(format!("--expires-in takes seconds, not {seconds}")))?,
                ),
                _ => return Err(DevkitError::Usage(USAGE.into())),
            };
            let created: LocalResources = read_json(resources_file)?;
            let settings = DevSettings::from_env()?;
            let store = Store::new(aws_sdk_dynamodb::Client::new(&sdk), created.table.clone());
            let id = shared::domain::AgentId::parse(*agent_id)?;
            let agent = store
                .agent(&id)
                .await?
                .ok_or_else(|| DevkitError::Usage(format!("the directory has no agent {agent_id}")))?;
            let agent_id_claim = http_edge::caller::AgentIdClaim::from_vars(&settings.function_vars(&created));
            let claims = devkit::local_auth::person_claims(
                &agent_id_claim,
                agent.agent_id.as_str(),
                agent.agency_id.as_str(),
                agent.role.as_str(),
            );
            let issuer = &settings.issuer;
            println!(
                "{}",
                devkit::local_auth::mint(&issuer.signing_key()?, &issuer.issuer, &issuer.client_id, &claims, lifetime)
            );
            Ok(())
        }
        ["verify", resources_file] => {
            let created: LocalResources = read_json(resources_file)?;
            let store = Store::new(aws_sdk_dynamodb::Client::new(&sdk), created.table);
            let differences = devkit::verify::verify(&store).await?;
            for difference in &differences {
                println!("  {difference}");
            }
            println!("verify: {} differences between the lists and the authoritative state", differences.len());
            if differences.is_empty() { Ok(()) } else { Err(DevkitError::Usage("the lists are not consistent".into())) }
        }
        ["migrate", table] => {
            let store = Store::new(aws_sdk_dynamodb::Client::new(&sdk), *table);
            let migrated = devkit::migrate::run(&store).await?;
            println!(
                "migrate: {} agencies' counters filed under their parents, {} applications' rows placed again, \
                 {} sync records kept under their last sync, {} applications filed in the due list by lane",
                migrated.agencies_refiled,
                migrated.applications_placed,
                migrated.records_rekeyed,
                migrated.applications_refiled
            );
            Ok(())
        }
        _ => Err(DevkitError::Usage(USAGE.into())),
    }
}

fn write_json(path: &str, value: &impl serde::Serialize) -> Result<(), DevkitError> {
    let path = PathBuf::from(path);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&path, serde_json::to_vec_pretty(value).map_err(|e| DevkitError::Usage(e.to_string()))?)?;
    Ok(())
}

fn read_json<T: serde::de::DeserializeOwned>(path: &str) -> Result<T, DevkitError> {
    let text = std::fs::read_to_string(path)?;
    serde_json::from_str(&text).map_err(|e| DevkitError::Usage(format!("{path}: {e}")))
}
