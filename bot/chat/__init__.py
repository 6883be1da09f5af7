"""Real-time chat between the customer (Teams) and the experts (console, Experts chat API).

Plain async Python behind ports: :mod:`bot.chat.ports` declares the transcript store, the
fan-out to live consoles and the incident lookup; the transport parses activities into
:mod:`bot.chat.model` shapes and the HTTP edge serves the console and the API.
"""
