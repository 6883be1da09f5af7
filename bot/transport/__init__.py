"""The edge: HTTP endpoints and the Bot Framework SDK. Only this package imports botbuilder."""
