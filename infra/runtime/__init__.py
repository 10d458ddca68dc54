"""Code that runs in AWS on behalf of the infrastructure (the migrations custom resource)."""
