//! Model aliases and their fallback chains (see `hub_core::aliases`). Every change is recorded
//! in the change log, so each server's provider directory picks it up within a poll.

use hub_core::aliases::ModelAlias;
use hub_core::ids::now_ms;
use sqlx::Row;

use crate::changes::{record_change_in, ChangeKind};
use crate::db::Store;
use crate::error::StoreError;

/// The change-log reference of alias changes (they reload the provider directory).
const CHANGE_REF: &str = "aliases";

impl Store {
    /// Every alias, by name.
    pub async fn list_aliases(&self) -> Result<Vec<ModelAlias>, StoreError> {
        let rows = sqlx::query("SELECT name, targets FROM model_aliases ORDER BY name").fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| {
                let targets: String = r.try_get("targets")?;
                Ok(ModelAlias { name: r.try_get("name")?, targets: ModelAlias::parse_targets(&targets) })
            })
            .collect()
    }

    /// Creates or replaces an alias, and audits it.
    pub async fn set_alias(&self, alias: &ModelAlias, actor: &str, address: Option<&str>) -> Result<(), StoreError> {
        let now = now_ms();
        let mut tx = self.pool.begin().await?;
        let updated = sqlx::query("UPDATE model_aliases SET targets = $1, updated_at = $2 WHERE name = $3")
            .bind(alias.targets_text())
            .bind(now)
            .bind(&alias.name)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if updated == 0 {
            sqlx::query("INSERT INTO model_aliases (name, targets, created_at, updated_at) VALUES ($1, $2, $3, $3)")
                .bind(&alias.name)
                .bind(alias.targets_text())
                .bind(now)
                .execute(&mut *tx)
                .await?;
        }
        record_change_in(&mut tx, ChangeKind::Provider, CHANGE_REF, now).await?;
        tx.commit().await?;
        let detail = format!("targets={}", alias.targets.join(","));
        self.audit(actor, "alias.set", Some(&alias.name), address, Some(&detail)).await
    }

    /// Deletes an alias; `false` when there was none.
    pub async fn delete_alias(&self, name: &str, actor: &str, address: Option<&str>) -> Result<bool, StoreError> {
        let now = now_ms();
        let mut tx = self.pool.begin().await?;
        let gone = sqlx::query("DELETE FROM model_aliases WHERE name = $1").bind(name).execute(&mut *tx).await?.rows_affected() > 0;
        if gone {
            record_change_in(&mut tx, ChangeKind::Provider, CHANGE_REF, now).await?;
        }
        tx.commit().await?;
        if gone {
            self.audit(actor, "alias.deleted", Some(name), address, None).await?;
        }
        Ok(gone)
    }
}
