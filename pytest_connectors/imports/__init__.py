"""Import connectors: pull production traces (LangSmith) and user sessions (FullStory) into the
database through sync jobs, and derive the conversations tests replay."""
