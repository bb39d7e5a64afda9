// Tests of the WorldModel module (Tests/<Module>Tests mirrors Sources/<Module>).
