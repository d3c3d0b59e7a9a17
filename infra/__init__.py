"""CDKTF app: typed environment config, the permission matrix, and the staging/production stacks."""
