// Tests of the Retrieval module (Tests/<Module>Tests mirrors Sources/<Module>).
