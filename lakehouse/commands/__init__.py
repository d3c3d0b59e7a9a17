"""One module per `lakehouse` subcommand: parse arguments, call the service, print, exit."""
