//! A browser session on the admin UI for tests: cookies and CSRF fields handled by hand,
//! redirects not followed.

use reqwest::StatusCode;

/// A logged-in browser session on the admin UI (cookies handled by hand, redirects not followed).
pub struct Browser {
    pub client: reqwest::Client,
    pub cookie: String,
}

pub fn form_body(fields: &[(&str, &str)]) -> String {
    let enc = |v: &str| v.bytes().map(|b| if b.is_ascii_alphanumeric() || b"-._~".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") }).collect::<String>();
    fields.iter().map(|(k, v)| format!("{k}={}", enc(v))).collect::<Vec<_>>().join("&")
}

pub fn csrf_in(html: &str) -> String {
    let at = html.find(r#"name="csrf" value=""#).expect("a csrf field") + r#"name="csrf" value=""#.len();
    html[at..].split('"').next().unwrap().to_owned()
}

pub fn cookie_of(resp: &reqwest::Response, name: &str) -> String {
    resp.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(|v| v.split(';').next().unwrap().to_owned())
        .unwrap_or_else(|| panic!("no {name} cookie"))
}

impl Browser {
    /// Logs in as the hub's owner.
    pub async fn login(hub: &hub_testkit::TestHub) -> Browser {
        Browser::login_as(hub, hub_testkit::OWNER_EMAIL, hub_testkit::OWNER_PASSWORD).await
    }

    pub async fn login_as(hub: &hub_testkit::TestHub, email: &str, password: &str) -> Browser {
        let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        let page = client.get(hub.url("/login")).send().await.unwrap();
        let pre = cookie_of(&page, "aigne_hub_csrf");
        let csrf = csrf_in(&page.text().await.unwrap());
        let body = form_body(&[("csrf", &csrf), ("email", email), ("password", password)]);
        let resp = client.post(hub.url("/login")).header("cookie", pre).header("content-type", "application/x-www-form-urlencoded").body(body).send().await.unwrap();
        assert!(resp.status().is_redirection(), "login: {}", resp.status());
        Browser { client, cookie: cookie_of(&resp, "aigne_hub_session") }
    }

    /// GETs a page as this session; answers the status and the body.
    pub async fn fetch(&self, hub: &hub_testkit::TestHub, path: &str) -> (StatusCode, String) {
        let resp = self.client.get(hub.url(path)).header("cookie", &self.cookie).send().await.unwrap();
        (resp.status(), resp.text().await.unwrap())
    }

    pub async fn get(&self, hub: &hub_testkit::TestHub, path: &str) -> String {
        let resp = self.client.get(hub.url(path)).header("cookie", &self.cookie).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "GET {path}");
        resp.text().await.unwrap()
    }

    /// Submits a form of the page at `path` (with that page's CSRF token); answers the status.
    pub async fn submit(&self, hub: &hub_testkit::TestHub, path: &str, fields: &[(&str, &str)]) -> StatusCode {
        let csrf = csrf_in(&self.get(hub, path).await);
        let mut all = vec![("csrf", csrf.as_str())];
        all.extend_from_slice(fields);
        let resp = self.client.post(hub.url(path)).header("cookie", &self.cookie).header("content-type", "application/x-www-form-urlencoded").body(form_body(&all)).send().await.unwrap();
        resp.status()
    }

    /// Submits a form found on the page at `page` to `action` (with that page's CSRF token);
    /// answers the status and the page that comes back.
    pub async fn submit_to(&self, hub: &hub_testkit::TestHub, page: &str, action: &str, fields: &[(&str, &str)]) -> (StatusCode, String) {
        let csrf = csrf_in(&self.get(hub, page).await);
        let mut all = vec![("csrf", csrf.as_str())];
        all.extend_from_slice(fields);
        let resp = self.client.post(hub.url(action)).header("cookie", &self.cookie).header("content-type", "application/x-www-form-urlencoded").body(form_body(&all)).send().await.unwrap();
        (resp.status(), resp.text().await.unwrap())
    }
}
