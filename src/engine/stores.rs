//! Object stores: how a session (or a cluster's scheduler and executors) reaches the files of
//! a warehouse on S3, GCS or Azure, with credentials from the environment only.

use std::sync::Arc;

/// Registers delta-rs' object stores for the cloud schemes, once per process.
pub fn register_cloud_stores() {
    #[cfg(feature = "cloud")]
    {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            deltalake::aws::register_handlers(None);
            deltalake::gcp::register_handlers(None);
            deltalake::azure::register_handlers(None);
        });
    }
}

/// Object stores found by URL, for the sessions of a cluster's scheduler and executors: the
/// ones registered (the local filesystem), else the store of the URL's bucket, built the way
/// a warehouse's store is (delta-rs' factories, credentials from the environment) and kept.
#[derive(Debug, Default)]
pub struct WarehouseStores {
    known: datafusion::execution::object_store::DefaultObjectStoreRegistry,
}

impl datafusion::execution::object_store::ObjectStoreRegistry for WarehouseStores {
    fn register_store(
        &self,
        url: &url::Url,
        store: Arc<dyn object_store::ObjectStore>,
    ) -> Option<Arc<dyn object_store::ObjectStore>> {
        self.known.register_store(url, store)
    }

    fn get_store(&self, url: &url::Url) -> datafusion::error::Result<Arc<dyn object_store::ObjectStore>> {
        if let Ok(store) = self.known.get_store(url) {
            return Ok(store);
        }
        let bucket = url::Url::parse(&format!(
            "{}://{}/",
            url.scheme(),
            &url[url::Position::BeforeHost..url::Position::AfterPort]
        ))
        .map_err(|e| datafusion::error::DataFusionError::External(Box::new(e)))?;
        register_cloud_stores();
        let store = deltalake::logstore::store_for(&bucket, std::iter::empty::<(String, String)>())
            .map_err(|e| datafusion::error::DataFusionError::External(Box::new(e)))?;
        self.known.register_store(&bucket, store.clone());
        Ok(store)
    }
}
