"""The workspace edge for deploying and operating: the SDK client and its errors (client), deploy, preflight,
pipeline updates, the Genie space."""
