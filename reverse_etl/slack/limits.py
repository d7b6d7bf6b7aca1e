"""Slack's documented Block Kit and chat.postMessage limits, in one place for the builder and the tests."""

MAX_BLOCKS = 50  # blocks per message
MAX_SECTION_TEXT = 3000  # characters in a section's text object
MAX_FIELD_TEXT = 2000  # characters per section field
MAX_FIELDS = 10  # fields per section
MAX_HEADER_TEXT = 150  # characters in a header's plain_text
MAX_CONTEXT_ELEMENTS = 10  # elements per context block
MAX_MESSAGE_TEXT = 40000  # top-level `text` of chat.postMessage (msg_too_long past it)
