"""Object stores behind one interface (`base.ObjectStore`): a local directory, the embedded
default, and S3. A process builds the configured ones once (`config.ObjectStores`)."""
