"""Training loops shared by the families: sufficient-statistics EM."""
