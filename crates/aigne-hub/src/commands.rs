//! One function per CLI command, each a thin call into the store.

use std::io::Read;

use hub_http::admin::money::RateForm;
use hub_core::{KeyType, NanoCredits, Pepper, Secret};
use hub_store::rate_directory::per_million;
use hub_store::users::Role;
use hub_store::{secrets, Store};
use serde_json::json;

use hub_core::scopes::{KeyPolicy, PolicyPatch};
use hub_store::keys::AuditActor;

use crate::cli::{AdminCommand, AliasCommand, UserCommand, BillingCommand, Cli, Command, CreditCommand, KeyCommand, ProviderCommand, RateCommand, ScopeArgs, UsageCommand};

pub type CmdResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

pub async fn run(cli: Cli) -> CmdResult {
    match cli.command {
        Command::Serve(args) => crate::serve::run(&cli.data_dir, cli.database_url.as_deref(), args).await,
        Command::Admin(cmd) => admin(&cli.data_dir, cli.database_url.as_deref(), cmd).await,
        Command::User(cmd) => user(&cli.data_dir, cli.database_url.as_deref(), cmd).await,
        Command::Provider(cmd) => provider(&cli.data_dir, cli.database_url.as_deref(), cmd).await,
        Command::Alias(cmd) => alias(&cli.data_dir, cli.database_url.as_deref(), cmd).await,
        Command::Key(cmd) => key(&cli.data_dir, cli.database_url.as_deref(), cmd).await,
        Command::Usage(cmd) => usage(&cli.data_dir, cli.database_url.as_deref(), cmd).await,
        Command::Rate(cmd) => rate(&cli.data_dir, cli.database_url.as_deref(), cmd).await,
        Command::Billing(cmd) => billing(&cli.data_dir, cli.database_url.as_deref(), cmd).await,
        Command::Credit(cmd) => credit(&cli.data_dir, cli.database_url.as_deref(), cmd).await,
    }
}

fn read_stdin_secret(what: &str) -> Result<String, Box<dyn std::error::Error + Send + Sync>> {
    let mut s = String::new();
    std::io::stdin().read_to_string(&mut s)?;
    let s = s.trim_end_matches(['\r', '\n']).to_owned();
    if s.is_empty() {
        return Err(format!("no {what} on standard input").into());
    }
    Ok(s)
}

/// The database: `--database-url` when given, else the SQLite file in the data directory.
pub async fn open_store(data_dir: &std::path::Path, db: Option<&str>) -> Result<Store, hub_store::StoreError> {
    match db.map(str::trim).filter(|u| !u.is_empty()) {
        Some(url) => Store::connect(url).await,
        None => Store::open_sqlite(data_dir).await,
    }
}

/// The server secrets (environment, else the data directory's files), checked against the
/// verifiers the database keeps: every process on one database must hold the same secrets.
pub async fn load_secrets(data_dir: &std::path::Path, store: &Store) -> Result<secrets::ServerSecrets, hub_store::StoreError> {
    let server = secrets::load_or_create(&data_dir.join("secrets"))?;
    store.check_server_secrets(&server).await?;
    Ok(server)
}

fn actor() -> String {
    "cli".to_owned()
}

async fn admin(data_dir: &std::path::Path, db: Option<&str>, cmd: AdminCommand) -> CmdResult {
    let store = open_store(data_dir, db).await?;
    match cmd {
        AdminCommand::Create { email, password_stdin } => {
            if !password_stdin {
                return Err("pass the password on standard input with --password-stdin".into());
            }
            let password = read_stdin_secret("password")?;
            let hash = hub_core::password::hash(&password)?;
            let user = store.create_user(&email, &hash, Role::Owner).await?;
            store.audit(&actor(), "user.owner_created", Some(&user.id), None, Some(&user.email)).await?;
            println!("created owner {}", user.email);
        }
    }
    Ok(())
}

async fn account(store: &Store, email: &str) -> Result<hub_store::users::User, Box<dyn std::error::Error + Send + Sync>> {
    Ok(store.user_by_email(email).await?.ok_or_else(|| format!("no account with email {email}"))?)
}

async fn user(data_dir: &std::path::Path, db: Option<&str>, cmd: UserCommand) -> CmdResult {
    use hub_store::accounts::{check_change, check_invite, AccountChange};
    let store = open_store(data_dir, db).await?;
    let parse_role = |r: &str| Role::parse(r.trim()).ok_or("role must be member or admin");
    match cmd {
        UserCommand::Invite { email, role, public_url, json } => {
            let role = parse_role(&role)?;
            check_invite(None, role)?;
            let token = hub_core::base62::random(&mut rand::rngs::OsRng, 43);
            let invitation = store.create_invitation(&token, &email, role, &actor(), None).await?;
            let url = format!("{}/invite?token={token}", public_url.trim_end_matches('/'));
            if json {
                println!("{}", serde_json::to_string_pretty(&json!({"invitation": invitation, "invite_url": url}))?);
            } else {
                println!("{url}");
                eprintln!("invited {} as {}; the link works once, for 7 days", invitation.email, invitation.role);
            }
        }
        UserCommand::List { json } => {
            let users = store.list_users().await?;
            let invitations = store.pending_invitations().await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&json!({"users": users, "invitations": invitations}))?);
            } else {
                for u in users {
                    println!("{:<40} {:<7} {:<9} keys: {}", u.email, u.role, if u.disabled { "disabled" } else { "active" }, u.active_keys);
                }
                for i in invitations {
                    println!("{:<40} {:<7} invited", i.email, i.role);
                }
            }
        }
        UserCommand::Disable { email } => {
            let target = account(&store, &email).await?;
            check_change(None, &target, AccountChange::Disabled(true))?;
            store.set_user_disabled(&target, true, &actor(), None).await?;
            println!("disabled {}; its keys are refused from now on", target.email);
        }
        UserCommand::Enable { email } => {
            let target = account(&store, &email).await?;
            check_change(None, &target, AccountChange::Disabled(false))?;
            store.set_user_disabled(&target, false, &actor(), None).await?;
            println!("enabled {}", target.email);
        }
        UserCommand::SetRole { email, role } => {
            let target = account(&store, &email).await?;
            let role = parse_role(&role)?;
            check_change(None, &target, AccountChange::Role(role))?;
            store.set_user_role(&target, role, &actor(), None).await?;
            println!("{} is now {}", target.email, role.as_str());
        }
    }
    Ok(())
}

async fn provider(data_dir: &std::path::Path, db: Option<&str>, cmd: ProviderCommand) -> CmdResult {
    let store = open_store(data_dir, db).await?;
    match cmd {
        ProviderCommand::Add { name, base_url, api_key_stdin } => {
            let server = load_secrets(data_dir, &store).await?;
            let credential = if api_key_stdin { Some(Secret::new(read_stdin_secret("API key")?)) } else { None };
            let (canonical, kind) = hub_store::providers::parse_provider_name(&name)?;
            let base_url = match base_url {
                Some(b) => b,
                None => kind.default_base_url().ok_or("this provider needs --base-url")?.to_owned(),
            };
            let info = store.upsert_provider(&canonical, &base_url, credential.as_ref(), &server.master_key).await?;
            store.audit(&actor(), "provider.saved", Some(&info.name), None, Some(&format!("base_url={}", info.base_url))).await?;
            println!("saved provider {} ({}), {} credential(s)", info.name, info.base_url, info.credentials.len());
        }
        ProviderCommand::List { json } => {
            let providers = store.list_providers().await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&providers)?);
            } else {
                for p in providers {
                    let creds: Vec<_> = p.credentials.iter().map(|c| c.hint.as_str()).collect();
                    println!("{:<20} {:<45} credentials: {}", p.name, p.base_url, creds.join(", "));
                }
            }
        }
        ProviderCommand::Test { name, json } => return provider_test(data_dir, &store, &name, json).await,
    }
    Ok(())
}

/// `provider test NAME`: each credential's probe, from this process (the data directory's
/// master key opens the credentials; a running server's health is not changed).
async fn provider_test(data_dir: &std::path::Path, store: &Store, name: &str, json: bool) -> CmdResult {
    let server = secrets::load_or_create(&data_dir.join("secrets"))?;
    let providers = hub_store::provider_directory::ProviderDirectory::new(hub_store::provider_directory::env_fallbacks());
    providers.reload(store, &server.master_key).await?;
    let wanted = name.trim().to_ascii_lowercase();
    let entry = providers.get(&wanted).ok_or_else(|| format!("no provider named {name:?} is configured"))?;
    if entry.credentials.is_empty() {
        return Err(format!("provider {} has no credential to test", entry.name).into());
    }
    let adapters = hub_providers::Adapters::new(hub_providers::HttpClient::new(hub_providers::Timeouts::default())?);
    let adapter = adapters.for_protocol(entry.kind.protocol()).ok_or("this provider's protocol is not served by this build")?;
    let mut reports = Vec::new();
    for c in &entry.credentials {
        let target = hub_providers::Target {
            provider: entry.name.clone(),
            kind: entry.kind,
            base_url: entry.base_url.clone(),
            credential_id: Some(c.id.clone()),
            api_key: Some(c.secret.clone()),
            model: String::new(),
        };
        let result = hub_providers::probe::run(adapter, &target).await;
        let (ok, status, error, class) = match &result.outcome {
            Ok(()) => (true, Some(200), None, None),
            Err(e) => (false, hub_http::connection::upstream_status(e), Some(e.to_string()), Some(e.class())),
        };
        reports.push(serde_json::json!({
            "provider": entry.name,
            "credential_id": c.id,
            "hint": c.secret.hint(),
            "ok": ok,
            "status": status,
            "latency_ms": u64::try_from(result.latency.as_millis()).unwrap_or(u64::MAX),
            "error": error,
            "error_class": class,
        }));
    }
    let failed = reports.iter().filter(|r| r["ok"] != serde_json::Value::Bool(true)).count();
    if json {
        println!("{}", serde_json::to_string_pretty(&reports)?);
    } else {
        for r in &reports {
            let verdict = if r["ok"] == serde_json::Value::Bool(true) { "ok".to_owned() } else { format!("FAILED: {}", r["error"].as_str().unwrap_or("")) };
            println!("{:<20} {:<28} {:>6} ms  {}", entry.name, r["hint"].as_str().unwrap_or(""), r["latency_ms"], verdict);
        }
    }
    if failed > 0 {
        return Err(format!("{failed} of {} credential(s) failed the connection test", reports.len()).into());
    }
    Ok(())
}

async fn alias(data_dir: &std::path::Path, db: Option<&str>, cmd: AliasCommand) -> CmdResult {
    let store = open_store(data_dir, db).await?;
    match cmd {
        AliasCommand::Set { name, targets } => {
            let alias = hub_core::aliases::ModelAlias::new(&name, &targets)?;
            store.set_alias(&alias, &actor(), None).await?;
            println!("alias {} → {}", alias.name, alias.targets.join(" → "));
        }
        AliasCommand::List { json } => {
            let aliases = store.list_aliases().await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&aliases)?);
            } else {
                for a in aliases {
                    println!("{:<24} {}", a.name, a.targets.join(" → "));
                }
            }
        }
        AliasCommand::Delete { name } => {
            if !store.delete_alias(&name, &actor(), None).await? {
                return Err(format!("no alias named {name:?}").into());
            }
            println!("deleted alias {name}");
        }
    }
    Ok(())
}

async fn key(data_dir: &std::path::Path, db: Option<&str>, cmd: KeyCommand) -> CmdResult {
    let store = open_store(data_dir, db).await?;
    match cmd {
        KeyCommand::Create { name, owner, key_type, scopes, json } => {
            let policy = patch(scopes).apply(&KeyPolicy::default())?;
            let server = load_secrets(data_dir, &store).await?;
            let key_type = KeyType::parse(&key_type).ok_or("--type must be inference, analytics or admin")?;
            let owner = match owner {
                Some(email) => store.user_by_email(&email).await?.ok_or_else(|| format!("no account with email {email}"))?,
                None => store.first_owner().await?.ok_or("no owner account yet: run `aigne-hub admin create` first")?,
            };
            let pepper = Pepper::from_bytes(server.pepper.0);
            let issued = store.issue_key(&pepper, &owner.id, &name, key_type, &policy, &actor(), None).await?;
            if json {
                let doc = json!({"id": issued.info.id, "kid": issued.info.kid, "key": issued.key.expose_secret(), "name": issued.info.name});
                println!("{doc}");
            } else {
                println!("{}", issued.key.expose_secret());
                eprintln!("key {:?} created ({}). Store it now: it is never shown again.", issued.info.name, issued.info.hint);
            }
        }
        KeyCommand::List { json } => {
            let keys = store.list_keys(None).await?;
            if json {
                let docs: Vec<_> = keys
                    .iter()
                    .map(|k| {
                        let mut v = serde_json::to_value(k).unwrap_or_default();
                        v["status"] = json!(k.status());
                        v
                    })
                    .collect();
                println!("{}", serde_json::to_string_pretty(&docs)?);
            } else {
                for k in keys {
                    println!("{:<14} {:<28} {:<8} {:>8} req  {}", k.kid, k.name, k.status(), k.request_count, k.hint);
                }
            }
        }
        KeyCommand::Update { kid, scopes, json } => {
            let info = store.key_by_ref(&kid).await?.ok_or_else(|| format!("no key {kid}"))?;
            let policy = patch(scopes).apply(&info.policy)?;
            let info = store.update_key_policy(&info.id, &policy, AuditActor { actor: &actor(), address: None }).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&info)?);
            } else {
                println!("updated {} ({}): {}", info.name, info.kid, hub_store::keys::policy_summary(&info.policy));
            }
        }
        KeyCommand::Rotate { kid, grace, json } => {
            let grace = hub_core::scopes::parse_grace(&grace)?;
            let server = load_secrets(data_dir, &store).await?;
            let pepper = Pepper::from_bytes(server.pepper.0);
            let grace_ms = i64::try_from(grace.as_millis()).unwrap_or(i64::MAX);
            let issued = store.rotate_key(&pepper, &kid, grace_ms, AuditActor { actor: &actor(), address: None }).await?;
            if json {
                let doc = json!({"id": issued.info.id, "kid": issued.info.kid, "key": issued.key.expose_secret(), "name": issued.info.name});
                println!("{doc}");
            } else {
                println!("{}", issued.key.expose_secret());
                eprintln!("key {:?} rotated; the previous secret works for {} s more. Store the new key now: it is never shown again.", issued.info.name, grace.as_secs());
            }
        }
        KeyCommand::Revoke { kid } => {
            let info = store.revoke_key_audited(&kid, &actor(), None).await?;
            println!("revoked {} ({})", info.name, info.kid);
        }
    }
    Ok(())
}

/// The CLI's scope options as a patch: options not given keep their value; `0`, `never`,
/// `all`, `*` and `any` remove a limit or restriction.
fn patch(a: ScopeArgs) -> PolicyPatch {
    let list = |items: Vec<String>, any: &str| -> Option<Option<Vec<String>>> {
        if items.is_empty() {
            None
        } else if items.len() == 1 && items[0].trim().eq_ignore_ascii_case(any) {
            Some(None)
        } else {
            Some(Some(items))
        }
    };
    PolicyPatch {
        models: list(a.models, "*"),
        endpoints: list(a.endpoints.into_iter().collect(), "all"),
        ips: list(a.ips, "any"),
        rpm: a.rpm.map(|n| (n > 0).then_some(n)),
        tpm: a.tpm.map(|n| (n > 0).then_some(n)),
        max_concurrency: a.max_concurrency.map(|n| (n > 0).then_some(n)),
        expires_at: a.expires.map(|e| (!e.trim().eq_ignore_ascii_case("never")).then_some(e)),
        budget: a.budget.map(|b| (!b.trim().eq_ignore_ascii_case("none")).then_some(b)),
        budget_period: a.budget_period,
    }
}

async fn usage(data_dir: &std::path::Path, db: Option<&str>, cmd: UsageCommand) -> CmdResult {
    let store = open_store(data_dir, db).await?;
    match cmd {
        UsageCommand::List { json, limit, key_id } => {
            let rows = store.list_usage(&hub_store::usage::UsageFilter { key_id, user_id: None, limit }).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else {
                for r in rows {
                    println!("{} {} {}/{} {} {} in={} out={}", r.request_id, r.kid, r.provider, r.model, r.status, r.outcome, r.tokens_in, r.tokens_out);
                }
            }
        }
    }
    Ok(())
}

fn credits(text: &str, what: &str) -> Result<NanoCredits, Box<dyn std::error::Error + Send + Sync>> {
    NanoCredits::parse_credits(text).map_err(|e| format!("{what}: {e}").into())
}

fn cli_actor() -> AuditActor<'static> {
    AuditActor { actor: "cli", address: None }
}

async fn rate(data_dir: &std::path::Path, db: Option<&str>, cmd: RateCommand) -> CmdResult {
    let store = open_store(data_dir, db).await?;
    match cmd {
        RateCommand::Set { model, input, output, cached_input, per_image, per_video_second, unit_cost_input, unit_cost_output } => {
            let (provider, model) = model.split_once('/').ok_or("name the model as PROVIDER/MODEL, e.g. openai/gpt-4o-mini")?;
            // The same reading of the amounts as the admin API's.
            let form = RateForm {
                provider: provider.to_owned(),
                model: model.to_owned(),
                input,
                output,
                cached_input,
                per_image,
                per_video_second,
                unit_cost_input,
                unit_cost_output,
                ..RateForm::default()
            };
            let rate = form.rate().map_err(|e| e.message().to_owned())?;
            store.set_rate(provider, model, &rate, cli_actor()).await?;
            println!("rate of {provider}/{model}: input {} / output {} credits per million tokens", per_million(rate.input), per_million(rate.output));
        }
        RateCommand::Reset { model } => {
            let (provider, model) = model.split_once('/').ok_or("name the model as PROVIDER/MODEL")?;
            if store.delete_rate(provider, model, cli_actor()).await? {
                println!("{provider}/{model} is back at its list price");
            } else {
                println!("{provider}/{model} had no rate override");
            }
        }
        RateCommand::List { json } => {
            let rates = hub_store::rate_directory::listing(store.list_rates().await?);
            if json {
                println!("{}", serde_json::to_string_pretty(&rates)?);
            } else {
                println!("{:<52} {:>14} {:>14} {:>14}  source", "model", "input/M", "output/M", "cached/M");
                for r in rates {
                    let name = format!("{}/{}", r.provider, r.model);
                    println!("{name:<52} {:>14} {:>14} {:>14}  {:?}", r.input_per_million, r.output_per_million, r.cached_input_per_million, r.source);
                }
            }
        }
    }
    Ok(())
}

async fn billing(data_dir: &std::path::Path, db: Option<&str>, cmd: BillingCommand) -> CmdResult {
    let store = open_store(data_dir, db).await?;
    let mut settings = store.billing_settings().await?;
    match cmd {
        BillingCommand::Enable { topup_link, starter_grant } => {
            settings.billing_enabled = true;
            if let Some(link) = topup_link {
                settings.topup_link = Some(link).filter(|l| !l.trim().is_empty());
            }
            if let Some(g) = starter_grant {
                settings.starter_grant = credits(&g, "--starter-grant")?;
            }
            store.set_billing_settings(&settings, cli_actor()).await?;
            println!("credit billing enabled");
        }
        BillingCommand::Disable => {
            settings.billing_enabled = false;
            store.set_billing_settings(&settings, cli_actor()).await?;
            println!("credit billing disabled");
        }
        BillingCommand::Show { json } => {
            if json {
                println!("{}", serde_json::to_string_pretty(&settings)?);
            } else {
                println!(
                    "billing: {}  starter grant: {}  top-up link: {}",
                    if settings.billing_enabled { "enabled" } else { "disabled" },
                    settings.starter_grant,
                    settings.topup_link.as_deref().unwrap_or("-")
                );
            }
        }
    }
    Ok(())
}

async fn credit(data_dir: &std::path::Path, db: Option<&str>, cmd: CreditCommand) -> CmdResult {
    let store = open_store(data_dir, db).await?;
    match cmd {
        CreditCommand::Grant { email, amount, expires, note } => {
            let user = store.user_by_email(&email).await?.ok_or_else(|| format!("no account with email {email}"))?;
            let amount = credits(&amount, "AMOUNT")?;
            let expires_at = expires.as_deref().map(hub_core::scopes::parse_rfc3339_ms).transpose()?;
            let grant = store.grant_credit(&user.id, amount, expires_at, note.as_deref(), cli_actor()).await?;
            println!("granted {} credits to {} ({})", grant.amount, user.email, grant.id);
        }
        CreditCommand::Show { email, json } => {
            let user = store.user_by_email(&email).await?.ok_or_else(|| format!("no account with email {email}"))?;
            let b = store.stored_balance(&user.id, hub_core::ids::now_ms()).await?;
            let balance = b.balance();
            if json {
                let ledger = store.grant_ledger(&user.id, hub_core::ids::now_ms()).await?;
                let doc = json!({"email": user.email, "balance": balance.to_string(), "granted": b.granted.to_string(), "spent": b.spent.to_string(), "expired": b.expired.to_string(), "grants": ledger.grants});
                println!("{}", serde_json::to_string_pretty(&doc)?);
            } else {
                println!("{}: balance {} (granted {}, spent {}, expired {})", user.email, balance, b.granted, b.spent, b.expired);
            }
        }
    }
    Ok(())
}
