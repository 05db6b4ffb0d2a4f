"""Object stores behind one interface (`base.ObjectStore`): a local directory, the embedded
default, and S3. Build the configured one with `config.build_object_store`."""
