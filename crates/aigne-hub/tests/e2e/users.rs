//! Users and roles: an admin invites someone (CLI, admin API or the Users page), the invited
//! person sets a password through the one-time link, members manage only their own keys and
//! see no admin pages, and disabling an account stops its keys at once.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::limits;
use crate::support::*;
use crate::ui_client::{cookie_of, csrf_in, form_body, Browser};

const MEMBER: &str = "member@example.com";
const MEMBER_PASSWORD: &str = "member-password-0123";

/// Opens an invitation link and sets the password; answers the new session's cookie.
async fn join(hub: &hub_testkit::TestHub, invite_url: &str, password: &str) -> Result<String, StatusCode> {
    let path = &invite_url[invite_url.find("/invite").expect("an /invite link")..];
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let page = client.get(hub.url(path)).send().await.unwrap();
    if page.status() != StatusCode::OK {
        return Err(page.status());
    }
    let pre = cookie_of(&page, "aigne_hub_csrf");
    let html = page.text().await.unwrap();
    let token = path.split("token=").nth(1).unwrap().to_owned();
    let body = form_body(&[("csrf", &csrf_in(&html)), ("token", &token), ("password", password), ("password_confirm", password)]);
    let resp = client.post(hub.url("/invite")).header("cookie", pre).header("content-type", "application/x-www-form-urlencoded").body(body).send().await.unwrap();
    if !resp.status().is_redirection() {
        return Err(resp.status());
    }
    Ok(cookie_of(&resp, "aigne_hub_session"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invited_member_joins_uses_their_own_key_and_is_stopped_when_disabled() {
    let env = setup().await;
    let hub = &env.hub;
    let invited = hub.cli_json(&["user", "invite", MEMBER, "--json"]).await.unwrap();
    let link = str_field(&invited, "invite_url").to_owned();
    assert_eq!(invited["invitation"]["role"], "member");
    let listed = hub.cli_json(&["user", "list", "--json"]).await.unwrap();
    assert_eq!(listed["invitations"][0]["email"], MEMBER, "{listed}");
    assert!(!listed.to_string().contains(link.split("token=").nth(1).unwrap()), "the token is never listed");

    join(hub, &link, MEMBER_PASSWORD).await.expect("the invited member joins");
    assert_eq!(join(hub, &link, MEMBER_PASSWORD).await, Err(StatusCode::FORBIDDEN), "a link works once");

    // The member logs in, sees their keys page, and no admin page.
    let member = Browser::login_as(hub, MEMBER, MEMBER_PASSWORD).await;
    assert!(member.get(hub, "/settings/api-keys").await.contains(MEMBER));
    for admin_page in ["/settings/users", "/settings/providers"] {
        assert_eq!(member.fetch(hub, admin_page).await.0, StatusCode::FORBIDDEN, "{admin_page}");
    }
    let created = hub.cli_json(&["key", "create", "--name", "member-app", "--owner", MEMBER, "--json"]).await.unwrap();
    // A member sees their own credit: the grant an admin gave, and the balance it makes.
    hub.cli_ok(&["credit", "grant", MEMBER, "5"], None).await.unwrap();
    let credit = eventually(limits::PROPAGATION + limits::PROPAGATION, "the grant shows on the member's page", || async {
        let page = member.get(hub, "/settings/credit").await;
        page.contains("Balance <strong>$5</strong>").then_some(page)
    })
    .await;
    assert!(credit.contains("<td>$5</td>"), "the grant is listed: {credit}");
    let key = hub_testkit::CreatedKey {
        id: str_field(&created, "id").to_owned(),
        kid: str_field(&created, "kid").to_owned(),
        key: str_field(&created, "key").to_owned(),
        name: str_field(&created, "name").to_owned(),
    };
    hub.wait_key_accepted(&key.key, limits::PROPAGATION).await.unwrap();
    expect_completion(chat(hub, &key.key, &hello()).await).await;

    // Disabled: the key is refused at once (this process and, through the change log, others).
    hub.cli_ok(&["user", "disable", MEMBER], None).await.unwrap();
    let err = eventually(limits::PROPAGATION + limits::PROPAGATION, "the disabled member's key is refused", || async {
        let resp = chat(hub, &key.key, &hello()).await;
        (resp.status() == 401).then_some(resp)
    })
    .await;
    let err = expect_error(err, 401, "a disabled account's key").await;
    assert!(err.message.to_lowercase().contains("disabled"), "{}", err.message);
    assert_ne!(member.fetch(hub, "/settings/api-keys").await.0, StatusCode::OK, "the session ended");
    hub.cli_ok(&["user", "enable", MEMBER], None).await.unwrap();
    eventually(limits::PROPAGATION + limits::PROPAGATION, "the enabled member's key works again", || async {
        (chat(hub, &key.key, &hello()).await.status() == 200).then_some(())
    })
    .await;

    // The owner account is not changed from the CLI, and roles are member or admin.
    assert!(!hub.cli(&["user", "disable", hub_testkit::OWNER_EMAIL], None).await.unwrap().success());
    assert!(!hub.cli(&["user", "set-role", MEMBER, "owner"], None).await.unwrap().success());
    hub.cli_ok(&["user", "set-role", MEMBER, "admin"], None).await.unwrap();
    let listed = hub.cli_json(&["user", "list", "--json"]).await.unwrap();
    let row = listed["users"].as_array().unwrap().iter().find(|u| u["email"] == MEMBER).unwrap().clone();
    assert_eq!((row["role"].as_str(), row["active_keys"].as_i64()), (Some("admin"), Some(1)), "{row}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admins_manage_accounts_through_the_api_and_the_users_page_within_the_rules() {
    let env = setup().await;
    let hub = &env.hub;
    let owner_key = create_key_with(hub, "automation", &["--type", "admin"]).await.key;
    let http = hub.client();
    let resp = http.post(hub.url("/api/admin/users/invite")).bearer_auth(&owner_key).json(&json!({"email": MEMBER, "role": "admin"})).send().await.unwrap();
    assert_eq!(resp.status(), 201);
    assert_eq!(header(resp.headers(), "cache-control").as_deref(), Some("no-store"));
    let invited: Value = resp.json().await.unwrap();
    join(hub, str_field(&invited, "invite_url"), MEMBER_PASSWORD).await.unwrap();

    let users: Value = http.get(hub.url("/api/admin/users")).bearer_auth(&owner_key).send().await.unwrap().json().await.unwrap();
    let list = users["users"].as_array().unwrap();
    assert_eq!(list.len(), 2, "{users}");
    assert!(!users.to_string().contains("password"), "no password hash is ever listed");
    let owner_id = list.iter().find(|u| u["role"] == "owner").unwrap()["id"].as_str().unwrap().to_owned();
    let admin_id = list.iter().find(|u| u["email"] == MEMBER).unwrap()["id"].as_str().unwrap().to_owned();

    let patch = |id: String, body: Value, key: String| {
        let http = http.clone();
        let url = hub.url(&format!("/api/admin/users/{id}"));
        async move { http.patch(url).bearer_auth(key).json(&body).send().await.unwrap() }
    };
    assert_eq!(patch(owner_id.clone(), json!({"disabled": true}), owner_key.clone()).await.status(), 403, "the owner cannot be disabled");
    assert_eq!(patch(admin_id.clone(), json!({"role": "owner"}), owner_key.clone()).await.status(), 403);
    assert_eq!(patch(admin_id.clone(), json!({"role": "boss"}), owner_key.clone()).await.status(), 400);
    let demoted = patch(admin_id.clone(), json!({"role": "member"}), owner_key.clone()).await;
    assert_eq!(demoted.status(), 200);
    assert_eq!(demoted.json::<Value>().await.unwrap()["role"], "member");
    // An inference key is refused on the admin API.
    assert!(http.get(hub.url("/api/admin/users")).bearer_auth(&env.key.key).send().await.unwrap().status().is_client_error());

    // The Users page: the owner invites someone and sees the link once; then disables them.
    let ui = Browser::login(hub).await;
    assert!(ui.get(hub, "/settings/users").await.contains(MEMBER));
    let csrf = csrf_in(&ui.get(hub, "/settings/users").await);
    let body = form_body(&[("csrf", &csrf), ("email", "third@example.com"), ("role", "member")]);
    let resp = ui.client.post(hub.url("/settings/users/invite")).header("cookie", &ui.cookie).header("content-type", "application/x-www-form-urlencoded").body(body).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let html = resp.text().await.unwrap();
    assert!(html.contains("/invite?token="), "the page shows the new link once");
    assert!(!ui.get(hub, "/settings/users").await.contains("/invite?token="), "and never again");
    let audit = http.get(hub.url("/api/admin/audit")).bearer_auth(&owner_key).send().await.unwrap().text().await.unwrap();
    for action in ["user.invited", "user.joined", "user.role_changed"] {
        assert!(audit.contains(action), "{action} is audited");
    }
}
